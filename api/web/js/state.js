// Who is logged in (from GET /v1/auth/me); pages ask it what to offer.
export const session = { me: null };

const REVIEWERS = ["admin", "qa_specialist", "supervisor"];
export const canReview = () => REVIEWERS.includes(session.me?.role);
export const canAppeal = () => ["admin", "supervisor", "agent"].includes(session.me?.role);

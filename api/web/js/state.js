// Who is logged in (from GET /v1/auth/me); pages ask it what to offer.
export const session = { me: null };

const REVIEWERS = ["admin", "qa_specialist", "supervisor"];
export const canReview = () => REVIEWERS.includes(session.me?.role);
export const canAppeal = () => ["admin", "supervisor", "agent"].includes(session.me?.role);

// The last review queue shown (its URL with the filters, and its ids in order): the interaction
// page's "back" keeps the filters and "submit and next" opens the next one.
const QUEUE_KEY = "qa.queue";
export function saveQueue(hash, ids) { sessionStorage.setItem(QUEUE_KEY, JSON.stringify({ hash, ids })); }
export function lastQueue() {
  try { return JSON.parse(sessionStorage.getItem(QUEUE_KEY)) || { hash: "#/queue", ids: [] }; } catch { return { hash: "#/queue", ids: [] }; }
}

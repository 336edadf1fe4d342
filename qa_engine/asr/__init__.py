"""Calls: audio decoding, the embedded Whisper model, transcription into role-labelled turns."""

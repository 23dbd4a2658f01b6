"""Reading what users have: saved models (through an allowlist unpickler), AnnData files,
server folders and uploads, and saved views. Nothing here writes a user's file."""

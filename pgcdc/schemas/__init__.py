"""Pure types shared by every stage: no I/O lives here."""

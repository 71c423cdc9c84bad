"""Operations: consistent backups of the database and photos, and verified restores."""

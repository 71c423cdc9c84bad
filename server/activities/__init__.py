"""Activities: what field experts record, with attendance, photos, revisions and reviews."""

"""Projects: Country Pilot Projects and DAA, their sites, targets and roster participants."""

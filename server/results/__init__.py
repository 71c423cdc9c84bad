"""Results: what a pilot achieves (docs/results.md).

Forms say what one measurement records; observations are filled forms, synced like activities;
result indicators roll the observations up like the activity indicators."""

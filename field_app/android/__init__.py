"""The Android build's entry script and the local python-for-android recipe (see
``field_app/buildozer.spec``)."""

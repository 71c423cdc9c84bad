"""The script python-for-android starts on the tablet (buildozer's ``source.dir``)."""

from field_app.main import main

main()

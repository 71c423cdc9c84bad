"""Screen logic in plain Python: what the screens show and do, testable without a window.

Nothing here imports Kivy; the screens bind these controllers to widgets.
"""

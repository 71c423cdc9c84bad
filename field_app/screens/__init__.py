"""One module and one ``.kv`` file per screen; ``base`` holds what they share."""

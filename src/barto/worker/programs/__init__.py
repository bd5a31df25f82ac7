"""Supervised programs (issue 7): supervisord's process model inside bartoc."""

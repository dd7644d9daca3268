"""Models arrive with this app's issue; the app exists so roles and URLs are wired from day one."""

"""The web app: server-rendered pages for members and the JSON API."""

"""tribe: bloggers band together and amplify each other's posts."""

__version__ = "0.1.0"

"""The Celery side: the app, its queues, the beat schedule and thin tasks."""

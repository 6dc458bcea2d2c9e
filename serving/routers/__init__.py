"""The API's routers, one per concern: predictions, analytics, mlops, admin, ops."""

"""The service's routes, in three routers that `app.create_app` includes: the JSON API
(`api`), the pages (`pages`) and signing in and out (`signin`); `web` holds what they share."""

"""The course exercise sheets' APIs (``../shared/seeds/``) as thin views over nasforge's real machinery."""

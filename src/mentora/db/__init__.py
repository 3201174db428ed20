"""Database: models, engine, units of work and migrations."""

"""Create the database named in DATABASE_URL if it does not exist (used by `make migrate`)."""

import os
import sys

import psycopg
from psycopg import sql

from controlplane.settings.env import database_from_url


def main() -> None:
    config = database_from_url(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flagplane"))
    params = {
        "dbname": "postgres",
        "user": config["USER"],
        "password": config["PASSWORD"],
        "host": config["HOST"],
        "port": config["PORT"] or None,
    }
    try:
        with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone()
            if not exists:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
                print(f"created database {config['NAME']}")
    except psycopg.OperationalError as exc:
        sys.exit(f"Cannot reach PostgreSQL for DATABASE_URL: {exc}")


if __name__ == "__main__":
    main()

"""A local Argilla 2.8 server without Docker, for tests, CI and reviewers
(`selfinstruct-argilla-local`, also `scripts/argilla-local`; see docs/argilla-server.md).

- `cli`: argument parsing and the commands (`up`, `install`, `down`, `status`, `env`).
- `config`: pinned versions, `ARGILLA_LOCAL_*` settings, the state dir's layout.
- `state`: pid files with process identity, stamps, the lock, the auth secret.
- `processes`: starting services and stopping exactly what was started.
- `readiness`: bounded waits for Redis/HTTP, the API key and workspace checks.
- `installs`: apt-get, the server venv, OpenSearch from Maven Central, the system user;
  only run on `install` / `up --install`.
- `services`: command lines, environments, OpenSearch's config, the database setup.
- `resources/`: the Maven fetch pom and the k-NN shim copied into the server venv.

Only the standard library is used, so importing this starts nothing and needs no server.
"""

from __future__ import annotations

from .cli import main

__all__ = ["main"]

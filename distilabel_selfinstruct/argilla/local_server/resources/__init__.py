"""Files the launcher copies out: `pom.xml` (the Maven fetch of OpenSearch and its plugins)
and `argilla_local_knn_compat.py` (copied into the server venv, never imported here)."""

"""`make demo`: a live, guarded rollout against a local control plane (see demo/run_demo.py)."""

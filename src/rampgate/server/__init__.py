"""The control-plane server: FastAPI app, SSE push, dashboard. Wires ``store`` into ``control``."""

"""A minimal in-process client of the app's callbacks, for tests and benchmarks.

It posts to Dash's own ``/_dash-update-component`` endpoint through Flask's test client,
exactly as the browser's renderer does, so what it measures and checks includes Dash's
dispatch, the callback context and JSON encoding, without a browser.
"""

from __future__ import annotations

import json
from typing import Any

import dash

_DISPATCH = "..map-main.figure..."


def _walk(component: Any):
    yield component
    children = getattr(component, "children", None)
    if children is None or isinstance(children, str | int | float):
        return
    if not isinstance(children, list | tuple):
        children = [children]
    for child in children:
        yield from _walk(child)


class DashClient:
    """Drive the app's callbacks over HTTP in-process, one page (session) per client.

    Parameters
    ----------
    app : dash.Dash
        An app from :func:`i4p_sim.app.create_app`.
    """

    def __init__(self, app: dash.Dash) -> None:
        self.app = app
        self.http = app.server.test_client()
        layout = app.layout() if callable(app.layout) else app.layout
        self.values: dict[str, Any] = {}
        self.params: list[tuple[dict, Any]] = []
        for comp in _walk(layout):
            cid = getattr(comp, "id", None)
            if isinstance(cid, dict) and cid.get("type") == "param":
                self.params.append((cid, comp.value))
            elif isinstance(cid, str):
                for prop in ("value", "data", "n_clicks", "n_intervals", "disabled", "clickData"):
                    if prop in getattr(comp, "_prop_names", ()):
                        self.values[f"{cid}.{prop}"] = getattr(comp, prop, None)
        self.session_id = self.values["session-id.data"]
        self.last_bytes = 0

    def set_param(self, path: str, value: Any) -> None:
        """Set one parameter control (dotted path) as a user would type it."""
        self.params = [(cid, value if cid["path"] == path else v) for cid, v in self.params]

    def _entry(self, dep: dict) -> Any:
        cid, prop = dep["id"], dep["property"]
        if cid.startswith("{"):  # a pattern-matching ALL dependency: the param controls
            return [
                {"id": pid, "property": prop, "value": pid if prop == "id" else v}
                for pid, v in self.params
            ]
        return {"id": cid, "property": prop, "value": self.values.get(f"{cid}.{prop}")}

    def call(self, key_prefix: str, changed: list[str]) -> dict[str, Any]:
        """Fire the callback whose output key starts with ``key_prefix``.

        Parameters
        ----------
        key_prefix : str
            Start of the callback's output key in ``app.callback_map``.
        changed : list of str
            ``"id.prop"`` that triggered it (empty on page load).

        Returns
        -------
        dict
            Dash's response: ``{component id: {prop: value}}``.
        """
        body = self.body(key_prefix, changed)
        resp = self.http.post("/_dash-update-component", json=body)
        if resp.status_code == 204:
            return {}
        if resp.status_code != 200:
            raise RuntimeError(f"callback failed: HTTP {resp.status_code}: {resp.data[:500]!r}")
        self.last_bytes = len(resp.data)
        data = json.loads(resp.data)
        return data.get("response", data)

    def body(self, key_prefix: str, changed: list[str]) -> dict[str, Any]:
        """The JSON body the browser posts for the callback whose output key starts with
        ``key_prefix`` (see :meth:`call`); tests mutate it into malformed requests."""
        key = next(k for k in self.app.callback_map if k.startswith(key_prefix))
        spec = self.app.callback_map[key]
        outputs = [
            {"id": o.split(".")[0], "property": o.split(".")[1]}
            for o in key.strip(".").split("...")
        ]
        return {
            "output": key,
            "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [self._entry(d) for d in spec["inputs"]],
            "state": [self._entry(d) for d in spec["state"]],
            "changedPropIds": changed,
        }

    def press(self, button: str) -> dict[str, Any]:
        """Click a button (or tick the clock with ``"clock"``) and run the dispatcher."""
        prop = "n_intervals" if button == "clock" else "n_clicks"
        name = f"{button}.{prop}"
        self.values[name] = (self.values.get(name) or 0) + 1
        return self.call(_DISPATCH, [name])

    def choose(self, control: str, value: Any) -> dict[str, Any]:
        """Change a control's value; run the dispatcher if the control triggers it."""
        self.values[f"{control}.value"] = value
        if control in ("layer", "twin"):
            return self.call(_DISPATCH, [f"{control}.value"])
        return {}

    def load(self) -> dict[str, Any]:
        """The page-load call of the dispatcher (nothing triggered)."""
        return self.call(_DISPATCH, [])

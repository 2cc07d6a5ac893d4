"""The OpenAPI document covers every HTTP route of the app, and its references resolve."""

from __future__ import annotations

import re

import msgspec

from gateway.app import create_app
from gateway.config import load_config
from gateway.openapi import build_document, docs_html


def test_every_route_is_documented_and_nothing_else():
    app = create_app(load_config([], {"GATEWAY_ENV": "dev"}))
    served = {
        (route.path, method.lower())
        for route in app.routes
        for method in (getattr(route, "methods", None) or ())
        if route.path.startswith(("/api/", "/health", "/livez", "/readyz", "/metrics"))
        and method != "HEAD"
    }
    doc = build_document(["BTC_USDC"])
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert served == documented


def test_references_resolve_and_document_is_json():
    doc = build_document(["BTC_USDC", "ETH_USDC"])
    text = msgspec.json.encode(doc).decode()
    for name in set(re.findall(r"#/components/schemas/(\w+)", text)):
        assert name in doc["components"]["schemas"], name
    create = doc["components"]["schemas"]["CreateTradeRequest"]["properties"]
    assert create["asset"]["enum"] == ["BTC_USDC", "ETH_USDC"]


def test_docs_page_escapes_and_links_the_document():
    doc = build_document()
    doc["paths"]["/x<script>"] = {"get": {"summary": "<b>", "responses": {"200": {}}}}
    html = docs_html(doc)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="/openapi.json"' in html


def test_the_document_says_what_the_server_enforces():
    doc = build_document(["SOL_USDC"])
    schemas = doc["components"]["schemas"]
    key = doc["paths"]["/api/v1/trade/create"]["post"]["parameters"][0]
    assert key["name"] == "Idempotency-Key" and key["schema"]["pattern"]
    margin = schemas["CreateTradeRequest"]["properties"]["margin"]["anyOf"]
    assert {"type": "integer", "minimum": 1, "maximum": 10**9} in margin
    assert not re.fullmatch(margin[1]["pattern"], "0")
    variants = schemas["EngineRequest"]["anyOf"]
    close = [v for v in variants if v["properties"]["command"] == {"const": "CLOSE_TRADE"}]
    # {"command": "CLOSE_TRADE", "tradeData": null} matches neither form (the server: 400).
    assert close[0]["required"] == ["command", "tradeId"]
    assert close[1]["required"] == ["command", "tradeData"]
    assert close[1]["properties"]["tradeData"]["type"] == "object"
    supported = doc["paths"]["/api/v1/supportedAssets"]["get"]["responses"]["200"]
    assert supported["content"]["application/json"]["schema"]["$ref"].endswith("SupportedAssets")
    assert schemas["PriceBody"]["properties"]["price"]["type"] == "string"

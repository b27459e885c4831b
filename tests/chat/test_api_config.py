"""`[aivm] enable_ai_chat` switches the routes; with AI off they answer in OpenAI's shape, never a 500."""
import requests

from tests.nodeproc import start_node


def test_enable_ai_chat_false_removes_the_routes_and_ai_off_is_a_clear_503(tmp_path):
    cfg = tmp_path / "off.toml"
    cfg.write_text("[aivm]\nenable_ai_chat = false\n")
    node = start_node(tmp_path, "--config", str(cfg))
    try:
        assert requests.get(node.url + "/v1/models", timeout=30).status_code == 404
        assert node.rpc("eth_chainId")["result"]  # the JSON-RPC side is untouched
    finally:
        node.stop()
    cfg.write_text("[aivm]\nenabled = false\nenable_ai_chat = true\n")
    node = start_node(tmp_path, "--config", str(cfg))
    try:
        r = requests.get(node.url + "/v1/models", timeout=30)
        assert r.status_code == 503 and r.json()["error"]["code"] == "ai_disabled"
        r = requests.post(node.url + "/v1/chat/completions", json={
            "model": "distributed_ai_model", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
        assert r.status_code == 503 and r.headers["x-should-retry"] == "false"
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}
        bad = requests.post(node.url + "/v1/chat/completions", data=b"{oops", timeout=30)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    finally:
        node.stop()

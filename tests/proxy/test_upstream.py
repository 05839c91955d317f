import httpx

from proxy.upstream import open_retell
from tests.conftest import run_async


def test_the_create_url_keeps_a_base_path_and_the_key_stays_out_of_repr():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"access_token": "ey", "call_id": "call_1"})

    async def run() -> str:
        async with open_retell("https://retell.example/prefix", "key_do_not_show", 5,
                               httpx.MockTransport(answer)) as retell:
            response = await retell.send("POST", retell.create_url, b'{"agent_id":"a"}')
            assert response.json()["call_id"] == "call_1"
            return repr(retell)

    shown = run_async(run())
    assert "key_do_not_show" not in shown
    assert str(seen[0].url) == "https://retell.example/prefix/v2/create-web-call"
    assert seen[0].headers["authorization"] == "Bearer key_do_not_show"
    assert seen[0].headers["content-type"] == "application/json"

from proxy.__main__ import main


def test_serve_without_settings_explains_every_missing_one(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("RETELL_API_KEY", raising=False)
    monkeypatch.setenv("PROXY_REGISTRY", str(tmp_path / "missing.toml"))
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "error: RETELL_API_KEY is not set" in err
    assert "error: PROXY_REGISTRY: no registry file" in err


def test_help_lists_the_environment(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for name in ("RETELL_API_KEY", "RETELL_BASE_URL", "PROXY_REGISTRY", "PROXY_UPSTREAM_TIMEOUT"):
        assert name in out


def test_help_docs_and_readme_follow_the_settings_table(capsys):
    from proxy.settings import SETTINGS
    from tests.conftest import REPO

    try:
        main(["--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    docs = (REPO / "site_src/docs/proxy.md").read_text()
    readme = (REPO / "README.md").read_text()
    assert docs.startswith("title: Proxy\norder: 4\n")
    for setting in SETTINGS:
        name = setting.env
        assert f"{name} " in out and setting.describe() in " ".join(out.split()), name
        assert f"| `{name}` | {setting.describe()} |" in readme, name
        shown = f"`{setting.default}`" if setting.default and not setting.shown_default else f"({setting.shown_default or 'required'})"
        assert f"| `{name}` | {shown} |" in docs, name


def test_serve_refuses_a_broken_registry_or_usage_database_plainly(capsys, monkeypatch, tmp_path):
    registry = tmp_path / "clients.toml"
    registry.write_text('[[client]]\nid = "x"\n')
    monkeypatch.setenv("RETELL_API_KEY", "key_test")
    monkeypatch.setenv("PROXY_REGISTRY", str(registry))
    assert main(["serve"]) == 2
    assert f"error: {registry}:1: client 'x': missing field 'agents'" in capsys.readouterr().err

    from tests.proxy.conftest import REGISTRY

    registry.write_text(REGISTRY)
    monkeypatch.setenv("PROXY_USAGE_DB", str(tmp_path / "no" / "such" / "dir" / "usage.sqlite3"))
    assert main(["serve"]) == 2
    assert "error: PROXY_USAGE_DB: cannot open" in capsys.readouterr().err


def test_serve_refuses_a_worker_count_out_of_range(capsys):
    for bad in ("0", "65", "-2"):
        assert main(["serve", "--workers", bad]) == 2
        assert f"error: --workers must be between 1 and 64, not {bad}" in capsys.readouterr().err


def test_several_workers_share_one_port_and_warn_about_per_process_budgets(tmp_path, registry_file, fake_retell):
    import os
    import signal
    import subprocess
    import sys
    import threading

    import httpx

    from serving import bind
    from tests.conftest import REPO
    from tests.proxy.conftest import API_KEY

    sock = bind()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "RETELL_API_KEY": API_KEY, "RETELL_BASE_URL": fake_retell[1], "PROXY_REGISTRY": str(registry_file),
           "PROXY_USAGE_DB": str(tmp_path / "usage.sqlite3"), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "proxy", "serve", "--port", str(port), "--workers", "2"],
                            env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    both_started = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if sum("proxy started" in seen for seen in lines) == 2:
                both_started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert both_started.wait(60), "".join(lines)
        # "proxy started" is the app's lifespan; a worker calls listen() on the shared socket just
        # after it, so a loaded machine may refuse the first connection: httpcore retries connects.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, transport=httpx.HTTPTransport(retries=5)) as client:
            statuses = {client.post("/api/create-web-call", json={"agent_id": "agent_shop"},
                                    headers={"Origin": "https://shop.example"}).status_code for _ in range(4)}
        assert statuses == {201}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        reader.join(10)
        proc.stderr.close()
    assert any("each of the 2 workers keeps its own rate-limit budget" in line for line in lines)
    assert API_KEY not in "".join(lines)


def test_ctrl_c_drains_a_request_in_progress_and_exits_cleanly(tmp_path, registry_file, upstream):
    """One process serves as every test and sandbox origin does (serving.Server): Ctrl-C lets the
    create in progress finish, then the process exits 0 with no traceback."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    import httpx

    from harness.fake_retell import FakeRetell
    from harness.faults import Faults
    from serving import bind
    from tests.conftest import REPO
    from tests.proxy.conftest import API_KEY

    server, url = upstream
    # Retell answers after half a second: the create is still in progress when Ctrl-C comes.
    fake = FakeRetell.for_agents(API_KEY, ["agent_shop"])
    fake.faults = Faults.parse({"create": {"delay": 0.5}})
    with bind() as sock:
        port = sock.getsockname()[1]
    env = {**os.environ, "RETELL_API_KEY": API_KEY, "RETELL_BASE_URL": url, "PROXY_REGISTRY": str(registry_file),
           "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "proxy", "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if "serving on http" in line:
            break
    arrived = threading.Event()
    answers: list[int] = []

    def create() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            answers.append(client.post("/api/create-web-call", json={"agent_id": "agent_shop"},
                                       headers={"Origin": "https://shop.example"}).status_code)

    original = fake.app()

    async def noticed(scope, receive, send):  # noqa: ANN001
        if scope["type"] == "http":
            arrived.set()
        await original(scope, receive, send)

    with server.serving(noticed):
        visitor = threading.Thread(target=create)
        visitor.start()
        assert arrived.wait(10), "".join(lines)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
        visitor.join(10)
    assert proc.returncode == 0, "".join(lines) + rest
    assert answers == [201]  # the request in progress was answered before the process ended
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest
    assert '"message": "stopped"' in rest

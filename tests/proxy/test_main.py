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


def test_help_docs_and_readme_list_every_variable(capsys):
    from proxy.settings import ENVIRONMENT
    from tests.conftest import REPO

    try:
        main(["--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    docs = (REPO / "site_src/docs/proxy.md").read_text()
    readme = (REPO / "README.md").read_text()
    assert docs.startswith("title: Proxy\norder: 4\n")
    for name in ENVIRONMENT:
        assert name in out, name
        assert f"| `{name}` |" in docs, name
        assert f"| `{name}` |" in readme, name


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

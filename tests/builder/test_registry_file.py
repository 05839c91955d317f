import pytest

import registry
from builder import registry_file


def test_reads_what_registry_load_reads_and_reparses_only_changed_clients(tmp_path):
    path = tmp_path / "clients.toml"
    entry = ('[[client]]\nid = "{id}"\nname = "{name}"\norigins = ["https://{id}.example"]\nagents = ["agent_{id}"]\n'
             'theme = "blue"\nposition = "bottom-right"\nwidget_version = "1.0.0"\nbrand_color = "#123456"\n')
    path.write_text("# clients\n\n" + entry.format(id="a", name="A") + "\n" + entry.format(id="b", name="B"))
    tables: dict = {}
    assert registry_file.load(path, {"1.0.0"}, tables) == registry.load(path, known_versions={"1.0.0"})
    first = dict(tables)
    path.write_text("# clients\n\n" + entry.format(id="a", name="A") + "\n" + entry.format(id="b", name="B 2"))
    assert registry_file.load(path, {"1.0.0"}, tables) == registry.load(path, known_versions={"1.0.0"})
    assert set(first) < set(tables)  # the unchanged client's table was reused, the edited one added
    # Errors are registry.load's own, with their lines.
    path.write_text(entry.format(id="a", name="A") + entry.format(id="a", name="A again"))
    with pytest.raises(registry.RegistryError) as caught:
        registry_file.load(path, {"1.0.0"}, tables)
    with pytest.raises(registry.RegistryError) as expected:
        registry.load(path, known_versions={"1.0.0"})
    assert caught.value.errors == expected.value.errors and ":11:" in caught.value.errors[0]
    # A file the cut could misread (another table, a multi-line string) is parsed whole.
    path.write_text('title = """\n[[client]]\n"""\n' + entry.format(id="a", name="A"))
    assert registry_file.load(path, {"1.0.0"}, {}) == registry.load(path, known_versions={"1.0.0"})

"""Reading a registry one [[client]] table at a time gives what a whole-file read gives."""

import pytest

import registry
from tests.releases import released

ENTRY = ('[[client]]\nid = "{id}"\nname = "{name}"\norigins = ["https://{id}.example"]\nagents = ["agent_{id}"]\n'
         'theme = "blue"\nposition = "bottom-right"\nwidget_version = "1.0.0"\nbrand_color = "#123456"\n')


def test_a_cached_read_is_a_whole_read_and_reparses_only_changed_clients(tmp_path):
    path = tmp_path / "clients.toml"
    path.write_text("# clients\n\n" + ENTRY.format(id="a", name="A") + "\n" + ENTRY.format(id="b", name="B"))
    cache = registry.TableCache()
    assert registry.load(path, released("1.0.0"), cache=cache) == registry.load(path, releases=released("1.0.0"))
    first = dict(cache.tables)
    path.write_text("# clients\n\n" + ENTRY.format(id="a", name="A") + "\n" + ENTRY.format(id="b", name="B 2"))
    assert registry.load(path, released("1.0.0"), cache=cache) == registry.load(path, releases=released("1.0.0"))
    assert set(first) < set(cache.tables)  # the unchanged client's table was reused, the edited one added


def test_errors_are_the_same_with_their_lines(tmp_path):
    path = tmp_path / "clients.toml"
    path.write_text(ENTRY.format(id="a", name="A") + ENTRY.format(id="a", name="A again"))
    with pytest.raises(registry.RegistryError) as cached:
        registry.load(path, released("1.0.0"), cache=registry.TableCache())
    with pytest.raises(registry.RegistryError) as whole:
        registry.load(path, releases=released("1.0.0"))
    assert cached.value.errors == whole.value.errors and ":11:" in cached.value.errors[0]
    path.write_text(ENTRY.format(id="a", name="A") + "[[client]\n")
    with pytest.raises(registry.RegistryError, match=r"clients\.toml:10: invalid TOML"):
        registry.load(path, cache=registry.TableCache())


def test_a_file_the_cut_could_misread_is_read_whole(tmp_path):
    path = tmp_path / "clients.toml"
    path.write_text('title = """\n[[client]]\n"""\n' + ENTRY.format(id="a", name="A"))
    assert registry.load(path, released("1.0.0"), cache=registry.TableCache()) == registry.load(path, releases=released("1.0.0"))

import base64
import hashlib
import html
import re

from builder.__main__ import main
from tests.builder.conftest import CLIENTS, V1_JS, V2_JS, release


def build(root):
    return main(["build", "--src", str(root / "site_src"), "--widget", str(root / "widget"), "--out", str(root / "dist"),
                 "--set", "cdn_url=http://cdn.test:9", "--set", "proxy_url=http://api.test:9/api/create-web-call"])


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def test_demo_page_embeds_its_snippet_pinned_with_sri(make_site):
    root = make_site()
    assert build(root) == 0
    page = (root / "dist/clients/client-b/index.html").read_text()
    js = sri((root / "dist/cdn/v1.0.0/retell-widget.js").read_bytes())
    css = sri((root / "dist/cdn/v1.0.0/retell-widget.css").read_bytes())
    snippet = (f'<link rel="stylesheet" href="http://cdn.test:9/v1.0.0/retell-widget.css"\n'
               f'      integrity="{css}" crossorigin="anonymous">\n'
               f'<script src="http://cdn.test:9/v1.0.0/retell-widget.js"\n'
               f'        integrity="{js}" crossorigin="anonymous"></script>\n<script>\n  new RetellWidget({{')
    # The page runs the snippet, and shows the same text escaped for reading.
    assert snippet in page
    assert html.escape(snippet, quote=True).replace("&#x27;", "&#39;").replace("&quot;", "&#34;") in page
    assert '"agentId": "agent_b1"' in page and '"position": "bottom-left"' in page and '"theme": "blue"' in page
    assert '"proxyEndpoint": "http://api.test:9/api/create-web-call"' in page


def test_each_agent_has_its_snippet_and_the_page_runs_the_first(make_site):
    root = make_site()
    assert build(root) == 0
    page = (root / "dist/clients/client-b/index.html").read_text()
    shown = re.findall(r'<h3 id="agent-([\w-]+)">Agent <code>\1</code></h3>\s*<pre><code>(.*?)</code></pre>', page, re.S)
    assert [agent for agent, _ in shown] == ["agent_b1", "agent_b2"]
    for agent, text in shown:
        assert "integrity=" in text and f'&#34;agentId&#34;: &#34;{agent}&#34;' in text
    # The pinned snippets differ only in their agent.
    assert shown[0][1].replace("agent_b1", "agent_b2") == shown[1][1]
    running = page.split("<script>\n  new RetellWidget(")[1:]  # the shown snippets are escaped
    assert len(running) == 1 and '"agentId": "agent_b1"' in running[0]
    single = (root / "dist/clients/client-a/index.html").read_text()
    assert "Agent <code>" not in single and "Each agent has its own snippet" not in single


def test_the_moving_alias_is_labelled_and_has_no_integrity(make_site):
    root = make_site()
    assert build(root) == 0
    page = (root / "dist/clients/client-a/index.html").read_text()
    label = page.index("Always the newest v1 release (moving alias, no integrity)")
    alias = page[label:page.index("</pre>", label)]
    assert "&lt;script src=&#34;http://cdn.test:9/v1/retell-widget.js&#34; crossorigin=&#34;anonymous&#34;&gt;" in alias
    assert "integrity" not in alias.split("</p>", 1)[1]


def test_demo_page_looks_like_the_client_site(make_site):
    root = make_site()
    assert build(root) == 0
    acme = (root / "dist/clients/client-a/index.html").read_text()
    assert "background: #0f766e" in acme and "Georgia, 'Times New Roman', serif" in acme
    assert '<span class="logo">ACME</span>' in acme and "Smiles, by appointment" in acme
    bolt = (root / "dist/clients/client-b/index.html").read_text()
    assert '<span class="logo">Bolt Bikes</span>' in bolt and "system-ui" in bolt
    assert "bottom left corner" in bolt


def test_a_version_without_css_gets_no_stylesheet_and_a_module_loads_as_one(make_site):
    root = make_site(widget={"v1/retell-widget.js": V1_JS, "v2/retell-widget.js": V2_JS},
                     releases={"1.0.0.md": release("1.0.0"), "2.0.0.md": release("2.0.0")},
                     clients=CLIENTS.replace('widget_version = "1.0.0"\nbrand_color = "#b91c1c"',
                                             'widget_version = "2.0.0"\nbrand_color = "#b91c1c"'))
    assert build(root) == 0
    page = (root / "dist/clients/client-b/index.html").read_text()
    js = sri((root / "dist/cdn/v2.0.0/retell-widget.js").read_bytes())
    assert "retell-widget.css" not in page
    assert (f'<script type="module" src="http://cdn.test:9/v2.0.0/retell-widget.js"\n'
            f'        integrity="{js}" crossorigin="anonymous"></script>\n<script type="module">\n  new RetellWidget(') in page


def test_registry_index_lists_every_client(make_site):
    root = make_site()
    assert build(root) == 0
    index = (root / "dist/clients/index.html").read_text()
    assert "2 registered websites" in index
    assert re.search(r'<a href="client-a/">Acme Dental</a></td><td>1\.0\.0</td><td>purple</td><td>bottom-right</td>', index)


def test_a_bot_check_client_gets_its_site_key_in_the_snippet_and_the_csp_note(site_factory):
    def edit(root):
        clients = root / "site_src" / "clients.toml"
        text = clients.read_text().replace('widget_version = "1.0.0"', 'widget_version = "1.2.0"')
        clients.write_text(text.replace('agents = ["agent_bolt_sales", "agent_bolt_support"]',
                                        'agents = ["agent_bolt_sales", "agent_bolt_support"]\nbot_check = "turnstile"\n'
                                        'bot_site_key = "0x4AAAAAAAbolt"', 1))

    root = site_factory(edit)
    assert build(root) == 0
    page = (root / "dist/clients/client-b/index.html").read_text()
    assert '"botCheck": "turnstile"' in page and '"botSiteKey": "0x4AAAAAAAbolt"' in page
    assert "This site requires a bot check" in page and "<code>https://challenges.cloudflare.com</code> in <code>script-src</code>" in page
    other = (root / "dist/clients/client-a/index.html").read_text()
    assert "botCheck" not in other and "requires a bot check" not in other


def test_a_clients_call_configuration_is_on_its_demo_page_and_in_its_snippet(make_site):
    clients = CLIENTS.replace('brand_color = "#b91c1c"\n', '''brand_color = "#b91c1c"
variables = { client_name = "Bolt Bikes" }
page_variables = ["customer_name", "page_path"]
agent_versions = { agent_b1 = 3 }
language = "de"
consent = { text = "This call is recorded.", url = "https://bolt.example/privacy" }
''')
    root = make_site(clients=clients, releases={"1.0.0.md": release("1.0.0", features="dynamic-variables, consent",
                                                                    languages="en, de")})
    assert build(root) == 0
    page = (root / "dist/clients/client-b/index.html").read_text()
    # The snippet the page runs passes the page's variables, the language and the consent text;
    # the fixed variables and agent versions are the proxy's alone.
    assert '"lang": "de"' in page
    assert '"dynamicVariables": {\n    "customer_name": "(your customer_name)",\n    "page_path": "(your page_path)"\n  }' in page
    assert '"consent": {\n    "text": "This call is recorded.",\n    "url": "https://bolt.example/privacy"\n  }' in page
    assert "client_name" not in page.split("new RetellWidget(")[-1] and "agent_version" not in page
    facts = re.search(r'<dl class="facts">(.*?)</dl>', page, re.S)[1]
    for shown in ("<code>client_name</code> = Bolt Bikes", "<code>customer_name</code>, <code>page_path</code>",
                  "<code>agent_b1</code>: 3", "<dd>de</dd>", "This call is recorded.", 'href="https://bolt.example/privacy"'):
        assert shown in facts, shown
    other = (root / "dist/clients/client-a/index.html").read_text()
    assert "dynamicVariables" not in other and "consent" not in other.lower()
    assert "none (the proxy refuses any a page sends)" in other

"""deploy/monitoring/: Prometheus config and alert rules (promtool), their unit tests, the Alertmanager example, the
Grafana provisioning and dashboard, every series they query checked against a live /metrics, and (slow) a real
Prometheus scraping a real uvicorn yts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from serving.app import create_app
from serving.config import ServingConfig
from tests.servers import call, free_port, stop_process, uvicorn_yts, wait_for
from yts_assets.core.paths import ProjectPaths

REPO = Path(__file__).resolve().parents[1]
MONITORING = REPO / "deploy" / "monitoring"
PROMETHEUS_CONFIG = MONITORING / "prometheus" / "prometheus.yml"
RULES = MONITORING / "prometheus" / "yts-alerts.yml"
RULE_TESTS = MONITORING / "prometheus" / "tests" / "yts-alerts.test.yml"
ALERTMANAGER_CONFIG = MONITORING / "alertmanager" / "alertmanager.yml"
GRAFANA = MONITORING / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "yts-api.json"
MONITORING_README = MONITORING / "README.md"

ITEM = {"uploads": 1200, "category": "Music", "country": "India", "age": 9}
# The original platform's queries (../shared/CONTRACT.md): they must keep working against yts.
ORIGINAL_PANELS = ('http_requests_total{path="/predict"}', 'http_request_latency_seconds_sum{path="/predict"}',
                   "topk(10, http_requests_total)")
ORIGINAL_ALERTS = ('absent(http_requests_total{path="/predict"})',
                   'rate(http_request_latency_seconds_sum{path="/predict"}[5m]) > 2')
ALERTS = {"YtsApiDown", "YtsModelNotReady", "YtsErrorBudgetBurnFast", "YtsErrorBudgetBurnSlow",
          "YtsPredictLatencyP99High", "YtsPredictLatencySumHigh", "YtsPredictAbsent", "YtsNoPredictTraffic",
          "YtsModelStale", "YtsTrafficDriftRisk", "YtsTrafficHighSeverityShare", "YtsCaptureDroppingRecords"}
RULE_GROUPS = {"yts-availability", "yts-slo", "yts-latency", "yts-traffic", "yts-model"}
# Series Prometheus makes itself, not the target.
PROMETHEUS_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}
TARGET_LABELS = {"job", "instance"}  # added by Prometheus at scrape
# Grafana's variables, as the dashboard's defaults would expand them.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s", "$job": "yts",
                     "$instance": ".*", "$target": "subscribers"}


# --- tools ----------------------------------------------------------------------------------------------------------


def binary(name: str, package: str) -> str:
    """The path of a Debian-packaged tool; CI must have it (.ci/run installs prometheus), elsewhere skip."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None)
    if found:
        return found
    message = f"{name} is not installed: apt-get install {package}"
    if os.environ.get("CI"):  # CI's own flag, not a yts setting
        pytest.fail(message)
    pytest.skip(message)


def run_tool(*args: str | Path) -> str:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60, cwd=REPO)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{output}"
    return output


# --- PromQL, enough of it to name the series an expression reads --------------------------------------------------

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless",
            "atan2", "inf", "nan"}
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def metric_names(expr: str) -> set[str]:
    """Series names in a PromQL expression: not functions or aggregations (followed by "("), keywords, label names
    (in {} and in by/without/on/ignoring/group_x lists), durations, numbers, strings or Grafana variables."""
    text = STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables outside ranges
    names = set()
    for token in re.finditer(r"[A-Za-z_:][\w:]*", text):
        before = text[token.start() - 1] if token.start() else " "
        if before.isalnum() or before in "._":  # the tail of a number or duration: 1e-3, 5m
            continue
        if text[token.end():].lstrip().startswith("(") or token.group().lower() in KEYWORDS:
            continue
        names.add(token.group())
    return names


def selectors(expr: str) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    """(series name, [(label, operator, value)]) of every `name{...}` in the expression."""
    for name, body in SELECTOR.findall(expr):
        yield name, MATCHER.findall(body)


def test_metric_names_reads_promql():
    expr = ('histogram_quantile(0.99, sum by (path, le) (rate(http_request_latency_seconds_bucket{job="$job", '
            'le!="x"}[$__rate_interval]))) > 2.5e-1 and on (job) sum without (instance) (a:b:c offset 5m) / '
            'ignoring(input) group_left bar unless topk(10, baz) > bool 1 or absent(qux{path="/p"}) + Inf')
    assert metric_names(expr) == {"http_request_latency_seconds_bucket", "a:b:c", "bar", "baz", "qux"}
    assert list(selectors(expr))[0] == ("http_request_latency_seconds_bucket", [("job", "=", "$job"),
                                                                                ("le", "!=", "x")])


# --- the files ------------------------------------------------------------------------------------------------------


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def alert_rules() -> list[dict]:
    return [rule for rule in rules() if "alert" in rule]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def dashboard_panels() -> list[dict]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target, annotation and variable query."""
    board = dashboard()
    queries = [(f"panel {p['title']!r}", t["expr"]) for p in dashboard_panels() for t in p["targets"]]
    queries += [(f"annotation {a['name']!r}", a["expr"]) for a in board["annotations"]["list"] if "expr" in a]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", variable["query"]["query"])
            queries.append((f"variable {variable['name']!r}", inner.group(1)))
    return queries


def expand(expr: str) -> str:
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda item: -len(item[0])):
        expr = expr.replace(variable, value)
    return expr


def test_prometheus_config_is_valid():
    promtool = binary("promtool", "prometheus")
    output = run_tool(promtool, "check", "config", PROMETHEUS_CONFIG)
    assert "1 rule files found" in output and "SUCCESS" in output
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    [job] = config["scrape_configs"]
    assert job["job_name"] == "yts" and job["static_configs"][0]["targets"] == ["127.0.0.1:8000"]
    assert job["scrape_interval"] == config["global"]["scrape_interval"] == "15s"
    assert config["rule_files"] == [RULES.name]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]


def test_alert_rules_are_valid_and_each_has_its_runbook():
    promtool = binary("promtool", "prometheus")
    run_tool(promtool, "check", "rules", RULES)
    groups = yaml.safe_load(RULES.read_text())["groups"]
    assert {group["name"] for group in groups} == RULE_GROUPS
    alerts = alert_rules()
    assert {rule["alert"] for rule in alerts} == ALERTS
    for original in ORIGINAL_ALERTS:
        assert original in [rule["expr"].strip() for rule in alerts], original
    readme = MONITORING_README.read_text()
    headings = {re.sub(r"[^\w -]", "", line.lstrip("#").strip()).lower().replace(" ", "-")
                for line in readme.splitlines() if line.startswith("#")}
    for rule in alerts:
        name = rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "")), f"{name} needs a `for`"
        assert rule["labels"]["severity"] in {"critical", "warning"} and rule["labels"]["service"] == "yts", name
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), name
        path, anchor = rule["annotations"]["runbook_url"].split("#")
        assert path == "deploy/monitoring/README.md" and anchor == name.lower() and anchor in headings, name


def test_alert_rule_unit_tests_pass_and_cover_each_alert_firing_and_not():
    promtool = binary("promtool", "prometheus")
    output = run_tool(promtool, "test", "rules", RULE_TESTS)
    assert "SUCCESS" in output
    cases = [case for test in yaml.safe_load(RULE_TESTS.read_text())["tests"] for case in test.get("alert_rule_test", [])]
    fires = {case["alertname"] for case in cases if case.get("exp_alerts")}
    stays_quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert fires == stays_quiet == ALERTS


def test_dashboard_queries_parse_as_promql(tmp_path):
    """promtool parses every dashboard query (Grafana variables expanded) as a recording rule: no server needed."""
    promtool = binary("promtool", "prometheus")
    rules_file = tmp_path / "dashboard-queries.yml"
    queries = dashboard_queries()
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query:{index}", "expr": expand(expr)} for index, (_, expr) in enumerate(queries)]}]}))
    run_tool(promtool, "check", "rules", rules_file)


def test_alertmanager_example_routes_to_defined_receivers():
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    routes = [config["route"], *config["route"].get("routes", [])]
    assert all(route["receiver"] in receivers for route in routes)
    assert receivers["yts-webhook"]["webhook_configs"][0]["url"] == "http://127.0.0.1:5001/alerts"
    for inhibit in config["inhibit_rules"]:
        named = re.findall(r"Yts\w+", " ".join(inhibit["source_matchers"] + inhibit["target_matchers"]))
        assert set(named) <= ALERTS, named


def test_alertmanager_config_passes_amtool_with_and_without_the_slack_example(tmp_path):
    """amtool comes with prometheus-alertmanager, which CI does not install: skipped there."""
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed: apt-get install prometheus-alertmanager")
    run_tool(amtool, "check-config", ALERTMANAGER_CONFIG)
    # The commented Slack receiver and route, uncommented (prose comments start with a word, examples with "- " or
    # an indent), must be valid too.
    uncommented = re.sub(r"(?m)^(\s+)# (?=- |  )", r"\1", ALERTMANAGER_CONFIG.read_text())
    config = yaml.safe_load(uncommented)
    assert "yts-slack" in {r["name"] for r in config["receivers"]}
    assert "yts-slack" in {r["receiver"] for r in config["route"]["routes"]}
    (tmp_path / "alertmanager.yml").write_text(uncommented)
    run_tool(amtool, "check-config", tmp_path / "alertmanager.yml")


def test_grafana_provisioning_and_dashboard_are_well_formed():
    [datasource] = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "datasource.yml").read_text())["datasources"]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://127.0.0.1:9090"
    [provider] = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboard.yml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    board = dashboard()
    assert board["uid"] == "yts-api" and 36 <= board["schemaVersion"] <= 41 and board["id"] is None
    [source] = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert source["name"] == "datasource" and source["current"]["value"] == datasource["uid"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    panels = dashboard_panels()
    assert {panel["type"] for panel in panels} <= {"timeseries", "stat", "table", "heatmap"}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and all(t["expr"] and t["datasource"] == panel["datasource"] for t in panel["targets"])
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]
    expressions = [expr for _, expr in dashboard_queries()]
    for original in ORIGINAL_PANELS:
        assert original in expressions, original
    used = set().union(*(metric_names(expr) for expr in expressions))
    for series in ("http_requests_total", "http_request_latency_seconds_bucket", "yts_predictions_total",
                   "yts_predicted_value_bucket", "yts_predicted_value_count", "yts_unknown_inputs_total",
                   "yts_traffic_drift_high_severity_share", "yts_traffic_drift_psi", "yts_traffic_drift_risk",
                   "yts_model_age_seconds", "yts_serving_run_info", "yts_registry_swaps_total",
                   "yts_capture_dropped_records_total"):
        assert series in used, f"the dashboard shows no {series}"


# --- every series the dashboard and the alerts read exists in a live /metrics ---------------------------------------


@pytest.fixture(scope="module")
def live_metrics(trained, tmp_path_factory) -> dict:
    """A yts /metrics after traffic (a prediction of every kind, unknown inputs, a 404 and a 422; in-process, like
    tests/test_serving.py): its text, and `samples`, sample name -> the label sets it has."""
    root = tmp_path_factory.mktemp("monitoring") / "project"
    shutil.copytree(trained["root"], root)
    paths = ProjectPaths(root=root, artifact_dir=root / "artifacts")
    config = ServingConfig(paths=paths, capture_dir=root / "incoming", capture_flush_seconds=0.05)
    with TestClient(create_app(config)) as client:
        assert client.post("/predict", json=ITEM).status_code == 200
        batch = [ITEM, {**ITEM, "country": "Narnia"}, {**ITEM, "category": "Knitting", "uploads": 5}]
        assert client.post("/predict/batch", json={"items": batch}).status_code == 200
        assert client.post("/predict/recommendation", json=ITEM).status_code == 200
        assert client.post("/predict/simulate", json={**{k: ITEM[k] for k in ("category", "country", "age")},
                                                      "start_uploads": 100, "end_uploads": 300, "step": 100}
                           ).status_code == 200
        assert client.post("/predict", json={**ITEM, "age": "old"}).status_code == 422
        assert client.get("/no/such/path").status_code == 404
        text = client.get("/metrics").text
    samples: dict[str, set[tuple[tuple[str, str], ...]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).add(tuple(sorted(sample.labels.items())))
    return {"samples": samples, "text": text}


def test_live_metrics_pass_promtool_lint(live_metrics):
    promtool = binary("promtool", "prometheus")
    result = subprocess.run([promtool, "check", "metrics"], input=live_metrics["text"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_series_queried_exists_in_a_live_metrics(live_metrics, source):
    samples = live_metrics["samples"]
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    if source == "dashboard":
        queries = dashboard_queries()
    else:
        queries = [(f"rule {rule.get('alert') or rule['record']}", rule["expr"]) for rule in rules()]
    problems = []
    for where, expr in queries:
        names = metric_names(expr)
        assert names, f"{where}: no series found in {expr!r}"
        for name in names - PROMETHEUS_SERIES:
            if ":" in name:  # a recording rule's series
                if name not in recorded:
                    problems.append(f"{where}: {name} is not recorded by {RULES.name}")
            elif name not in samples:
                problems.append(f"{where}: {name} is not in /metrics")
        for name, matchers in selectors(expr):
            if name not in samples:
                continue
            label_sets = [dict(labels) for labels in samples[name]]
            for label, operator, value in matchers:
                if label in TARGET_LABELS:
                    continue
                if not any(label in labels for labels in label_sets):
                    problems.append(f"{where}: {name} has no label {label!r}")
                elif operator == "=" and "$" not in value and not any(l.get(label) == value for l in label_sets):
                    problems.append(f"{where}: no {name}{{{label}={value!r}}} in /metrics")
    assert not problems, "\n".join(problems)


# --- a real Prometheus scraping a real uvicorn yts ------------------------------------------------------------------


def prometheus_get(port: int, path: str, **params: str) -> dict:
    url = f"http://127.0.0.1:{port}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def query(port: int, expr: str) -> list[dict]:
    return prometheus_get(port, "/api/v1/query", query=expr)["result"]


def config_for_test(yts_port: int) -> dict:
    """The repo's prometheus.yml for a test: its rule files, a 1 s scrape of the test's yts, no Alertmanager."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str((PROMETHEUS_CONFIG.parent / name).resolve()) for name in config["rule_files"]]
    config.pop("alerting")
    [job] = config["scrape_configs"]
    job.update(scrape_interval="1s", static_configs=[{"targets": [f"127.0.0.1:{yts_port}"]}])
    return config


@pytest.fixture
def prometheus(tmp_path):
    """Start /usr/bin/prometheus on 127.0.0.1 for a config: `start(config) -> port`; stopped afterwards."""
    executable = binary("prometheus", "prometheus")
    started: list[subprocess.Popen] = []
    log = tmp_path / "prometheus.log"

    def start(config: dict) -> int:
        config_file = tmp_path / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        port = free_port()
        with open(log, "wb") as output:
            process = subprocess.Popen([executable, f"--config.file={config_file}",
                                        f"--storage.tsdb.path={tmp_path / 'data'}",
                                        f"--web.listen-address=127.0.0.1:{port}"],
                                       stdout=output, stderr=subprocess.STDOUT)
        started.append(process)

        def ready() -> bool:
            assert process.poll() is None, f"prometheus exited:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(ready, 30, "prometheus /-/ready", interval=0.1)
        return port

    yield start
    for process in started:
        stop_process(process, 10)


@pytest.mark.slow
def test_prometheus_scrapes_yts_and_loads_the_alerts(trained, tmp_path, prometheus):
    root = tmp_path / "project"
    shutil.copytree(trained["root"], root)
    paths = ProjectPaths(root=root, artifact_dir=root / "artifacts")
    with uvicorn_yts(paths) as yts_port:
        port = prometheus(config_for_test(yts_port))
        for _ in range(5):
            assert call(yts_port, "POST", "/predict", ITEM)[0] == 200
        assert call(yts_port, "POST", "/predict/batch", {"items": [ITEM, {**ITEM, "country": "Narnia"}]})[0] == 200

        def returns(expr: str) -> list[dict]:
            return wait_for(lambda: query(port, expr), 30, f"a series for {expr}", interval=0.25)

        assert returns('up{job="yts"} == 1')[0]["metric"]["instance"] == f"127.0.0.1:{yts_port}"
        requests_panel, latency_panel, topk_panel = ORIGINAL_PANELS
        assert {s["metric"]["path"] for s in returns(requests_panel)} == {"/predict"}
        assert {s["metric"]["path"] for s in returns(latency_panel)} == {"/predict"}
        assert 1 <= len(returns(topk_panel)) <= 10
        assert query(port, ORIGINAL_ALERTS[0]) == []  # absent(http_requests_total{path="/predict"}): it is there
        [run] = returns("yts_serving_run_info")
        assert run["metric"]["run_id"] == trained["b"] and run["value"][1] == "1"
        assert returns('yts_unknown_inputs_total{input="country"} >= 1')
        assert returns("yts_traffic_drift_records >= 7")

        quiet = ("YtsApiDown", "YtsModelNotReady", "YtsPredictAbsent", "YtsCaptureDroppingRecords")

        def evaluated_groups() -> dict[str, list[dict]] | None:
            """The rule groups once every rule has been evaluated without an error (health "ok") since the series
            arrived (an evaluation before the first scrape finds `absent(...)` true: pending, for one evaluation)."""
            groups = {group["name"]: group["rules"] for group in prometheus_get(port, "/api/v1/rules")["groups"]}
            rules_ = [rule for group in groups.values() for rule in group]
            healthy = rules_ and all(rule["health"] == "ok" for rule in rules_)
            settled = all(rule["state"] == "inactive" for rule in rules_ if rule["name"] in quiet)
            return groups if healthy and settled else None

        groups = wait_for(evaluated_groups, 30, "every rule evaluated with health ok, and no alert", interval=0.25)
        assert set(groups) == RULE_GROUPS
        loaded = {rule["name"] for group in groups.values() for rule in group if rule["type"] == "alerting"}
        assert loaded == ALERTS
        # The dashboard's queries run on a real Prometheus (Grafana's variables expanded).
        for where, expr in dashboard_queries():
            try:
                prometheus_get(port, "/api/v1/query", query=expand(expr))
            except urllib.error.HTTPError as error:
                pytest.fail(f"{where}: Prometheus refused {expand(expr)!r}: {error.read()[:500]!r}")
        assert returns(expand('sum by (path) (rate(http_requests_total{job="$job", instance=~"$instance"}'
                              '[$__rate_interval]))'))

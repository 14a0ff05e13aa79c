"""The decision function, table-tested, and the policies file's errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams import policies as p
from streams.policies import Evaluator, Policy, PolicyError, decide, glob_match

ORDERS = Policy(
    groups=("orders-team",),
    clusters=("prod",),
    actions=frozenset({"view", "messages"}),
    resources={"topics": ("orders-*",)},
    name="orders readers",
)
PUBLISHERS = Policy(
    groups=("orders-team",),
    clusters=("prod",),
    actions=frozenset({"publish"}),
    resources={"topics": ("orders-in",)},
    name="orders publishers",
)
EVERYTHING_STAGING = Policy(
    groups=("devs",),
    clusters=("staging-*",),
    actions=frozenset(p.ACTIONS),
    resources={kind: ("*",) for kind in p.NAMED_KINDS},
    name="staging",
)
CLUSTER_PAGES = Policy(
    groups=("sre",), clusters=("*",), actions=frozenset({"view"}), cluster=True, name="cluster pages"
)
ALL = [ORDERS, PUBLISHERS, EVERYTHING_STAGING, CLUSTER_PAGES]

CASES = [
    # groups, roles, action, cluster, kind, name, allowed, granted by
    (["orders-team"], [], "view", "prod", "topics", "orders-eu", True, "orders readers"),
    (["orders-team"], [], "messages", "prod", "topics", "orders-", True, "orders readers"),
    # the glob covers the whole name: a prefix or a suffix is not enough
    (["orders-team"], [], "view", "prod", "topics", "my-orders-eu", False, None),
    (["orders-team"], [], "view", "prod", "topics", "orders", False, None),
    (["orders-team"], [], "view", "prod", "topics", "Orders-eu", False, None),
    # another cluster, another action, another type: not covered
    (["orders-team"], [], "view", "staging-1", "topics", "orders-eu", False, None),
    (["orders-team"], [], "publish", "prod", "topics", "orders-eu", False, None),
    (["orders-team"], [], "view", "prod", "consumer_groups", "orders-eu", False, None),
    (["orders-team"], [], "view", "prod", "cluster", "", False, None),
    # several policies: a union
    (["orders-team"], [], "publish", "prod", "topics", "orders-in", True, "orders publishers"),
    (["orders-team", "devs"], [], "delete", "staging-2", "kv_buckets", "x", True, "staging"),
    (["orders-team", "devs"], [], "view", "prod", "topics", "orders-eu", True, "orders readers"),
    # ["*"] covers every name of the listed types, but not the cluster pages
    (["devs"], [], "unmask", "staging-a", "schema_subjects", "any.thing/at all", True, "staging"),
    (["devs"], [], "view", "staging-a", "cluster", "", False, None),
    (["devs"], [], "view", "staging", "topics", "x", False, None),
    # cluster = true: the cluster-level pages only
    (["sre"], [], "view", "prod", "cluster", "", True, "cluster pages"),
    (["sre"], [], "view", "prod", "topics", "orders-eu", False, None),
    (["sre"], [], "edit", "prod", "cluster", "", False, None),
    # no group, or a group no policy names
    ([], [], "view", "prod", "topics", "orders-eu", False, None),
    (["Operators"], [], "delete", "prod", "topics", "orders-eu", False, None),
    # the built-in roles
    ([], ["viewers"], "view", "prod", "cluster", "", True, "Viewers role"),
    ([], ["viewers"], "messages", "any", "subjects", "a.>", True, "Viewers role"),
    ([], ["viewers"], "publish", "prod", "topics", "orders-in", False, None),
    ([], ["viewers"], "unmask", "prod", "topics", "orders-in", False, None),
    ([], ["operators"], "unmask", "prod", "topics", "orders-in", True, "Operators role"),
    ([], ["operators"], "workers", "prod", "workers", "w", True, "Operators role"),
    ([], ["operators"], "edit", "prod", "cluster", "", True, "Operators role"),
    ([], ["superuser"], "reset", "x", "consumer_groups", "g", True, "Superuser"),
    (["orders-team"], ["viewers"], "publish", "prod", "topics", "orders-in", True, "orders publishers"),
]


@pytest.mark.parametrize(("groups", "roles", "action", "cluster", "kind", "name", "allowed", "by"), CASES)
def test_decide(groups, roles, action, cluster, kind, name, allowed, by):
    decision = decide(groups, action, cluster, kind, name, roles=roles, policies=ALL)
    assert decision.allowed is allowed
    assert decision.missing_action == (None if allowed else action)
    assert (decision.policy.label() if decision.policy else None) == by


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*", "", True),
        ("*", "a.b/c d", True),
        ("orders-*", "orders-", True),
        ("orders-?", "orders-1", True),
        ("orders-?", "orders-12", False),
        ("a.b", "aXb", False),  # a dot is a dot, not "any character"
        ("[ab]", "a", False),  # brackets are literal: only * and ? are special
        ("[ab]", "[ab]", True),
        ("orders.*", "orders.>", True),  # a NATS pattern inside what the glob grants
        ("orders.?", "orders.*", False),  # "?" does not grant a wildcard token
        ("orders.?", "orders.>", False),
        ("orders.*", "*", False),
    ],
)
def test_globs_cover_the_whole_name(pattern, name, matches):
    assert glob_match(pattern, name) is matches


def test_refusal_names_the_missing_action_and_the_resource():
    refused = decide(["orders-team"], "publish", "prod", "topics", "orders-eu", policies=ALL)
    assert refused.refusal() == (
        "This needs the 'publish' action on topic 'orders-eu' in cluster 'prod'; no policy of your groups grants it."
    )
    listing = Evaluator(["x"]).decide_some("view", "prod", "consumer_groups")
    assert "'view' action on the consumer groups of cluster 'prod'" in listing.refusal()
    pages = decide([], "view", "prod", "cluster", "")
    assert "cluster-level pages of cluster 'prod'" in pages.refusal()


def test_listings_and_clusters():
    mine = Evaluator(["orders-team"], policies=ALL)
    assert mine.decide_some("view", "prod", "topics").allowed
    assert not mine.decide_some("view", "prod", "streams").allowed
    assert not mine.decide_some("view", "staging-1", "topics").allowed
    assert mine.sees_cluster("prod") and not mine.sees_cluster("staging-1")
    assert [pol.name for pol in mine.for_cluster("prod")] == ["orders readers", "orders publishers"]
    assert mine.anything and not Evaluator(["nobody"], policies=ALL).anything
    assert Evaluator(["sre"], policies=ALL).sees_cluster("anything")


TOML = """
# orders team
[[policy]]
name = "orders"
groups = ["orders-team"]
clusters = ["prod"]
topics = ["orders-*"]
consumer_groups = ["orders-*"]
actions = ["view", "messages", "publish"]

[[policy]]
groups = ["sre"]
clusters = ["*"]
cluster = true
buckets = ["cfg-*"]
actions = ["view"]

[[mask]]
fields = ["email"]
"""


def test_parse_toml(tmp_path: Path):
    file = tmp_path / "policies.toml"
    file.write_text(TOML)
    orders, sre = p.load(str(file))
    assert orders.name == "orders" and orders.source == "policies.toml#1"
    assert orders.resources == {"topics": ("orders-*",), "consumer_groups": ("orders-*",)}
    assert orders.actions == {"view", "messages", "publish"}
    assert sre.cluster and sre.resources == {"kv_buckets": ("cfg-*",), "object_buckets": ("cfg-*",)}


def test_parse_json(tmp_path: Path):
    file = tmp_path / "policies.json"
    file.write_text('{"policy": [{"groups": ["g"], "clusters": ["*"], "streams": ["*"], "actions": ["view"]}]}')
    (only,) = p.load(str(file))
    assert only.resources == {"streams": ("*",)} and only.groups == ("g",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[policy]]\ngroups = ['g']\nclusters = ['*']\ntopics = ['*']\n", "policy 1, line 1: 'actions' is required"),
        (
            "[[policy]]\ngroups=['g']\nclusters=['*']\ntopics=['*']\nactions=['view']\n\n"
            "[[policy]]\ngroups=['g']\nclusters=['*']\ntopics=['*']\nactions=['publsh']\n",
            "policy 2, line 7: 'actions': unknown action 'publsh'",
        ),
        ("[[policy]]\ngroups='g'\nclusters=['*']\ntopics=['*']\nactions=['view']\n", "'groups' must be a list"),
        ("[[policy]]\ngroups=['g']\nclusters=['*']\nactions=['view']\n", "the policy covers nothing"),
        ("[[policy]]\ngroups=['g']\nclusters=['*']\ntopic=['*']\nactions=['view']\n", "unknown key 'topic'"),
        ("[[policy]]\ngroups=['g']\nclusters=['*']\ncluster='yes'\nactions=['view']\n", "'cluster' must be true"),
        ("[[policy]]\ngroups=[]\nclusters=['*']\ntopics=['*']\nactions=['view']\n", "'groups' is empty"),
        ("[[policy]]\ngroups=['g']\nclusters=['*']\ntopics=['']\nactions=['view']\n", "'topics' holds an empty"),
        ("[[policies]]\ngroups=['g']\n", "unknown top-level key 'policies'"),
        ("[[policy]\n", "is not valid TOML"),
    ],
)
def test_errors_name_the_policy_line_and_field(tmp_path: Path, text, message):
    file = tmp_path / "p.toml"
    file.write_text(text)
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace("[", r"\[")) as caught:
        p.load(str(file))
    assert str(file) in str(caught.value)


def test_unreadable_file(tmp_path: Path):
    with pytest.raises(PolicyError, match="cannot read"):
        p.load(str(tmp_path / "missing.toml"))

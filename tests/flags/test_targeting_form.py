"""The targeting page edits rules as structured fields and saves them through update_flag_state."""

from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM
from controlplane.flags.models import FlagState
from controlplane.flags.services import create_segment, update_flag_state
from tests.flags.helpers import targeting_post


def url(state):
    return f"/admin/flags/flag/{state.flag_id}/targeting/{state.environment.key}/"


def rule_fields(index=0, **fields):
    return {f"rules-{index}-{name}": value for name, value in fields.items()}


def test_the_page_shows_the_current_targeting(admin_client, checkout_in_production):
    update_flag_state(
        checkout_in_production,
        SYSTEM,
        {
            "targets": [{"variant": "on", "keys": ["qa-1", "qa-2"]}],
            "rules": [
                {
                    "id": "pro",
                    "description": "Pro plan",
                    "serve": {"variant": "on"},
                    "clauses": [{"attribute": "plan", "op": "in", "values": ["pro", "team"]}],
                }
            ],
        },
    )
    html = admin_client.get(url(checkout_in_production)).content.decode()
    assert "qa-1\nqa-2" in html
    assert 'value="Pro plan"' in html
    assert "pro\nteam</textarea>" in html
    assert '<option value="semver_gte">semver_gte</option>' in html  # every operator is offered
    assert 'name="version" value="2"' in html


def test_saving_a_rule_with_clauses_bumps_the_version(admin_client, admin_user, checkout_in_production):
    data = targeting_post(
        checkout_in_production,
        on="on",  # ignored: on/off has its own confirmation page
        reason="beta for pro users",
        **{"targets_0": "qa-1, qa-2"},
        **rule_fields(
            description="Pro users on recent apps",
            serve_mode="variant",
            serve_variant="on",
            clause_0_attribute="plan",
            clause_0_op="in",
            clause_0_values="pro\nteam",
            clause_0_case_insensitive="on",
            clause_2_attribute="build",  # empty row 1 in between is ignored
            clause_2_op="num_gte",
            clause_2_values="1200, 1300.5",
            clause_2_negate="on",
        ),
    )
    response = admin_client.post(url(checkout_in_production), data)
    assert response.status_code == 302, response.content.decode()
    state = FlagState.objects.get(pk=checkout_in_production.pk)
    assert state.version == 2
    assert state.on is False
    assert state.targets == [{"variant": "on", "keys": ["qa-1", "qa-2"]}]
    [rule] = state.rules
    assert rule["description"] == "Pro users on recent apps"
    assert rule["serve"] == {"variant": "on"}
    assert rule["clauses"] == [
        {"attribute": "plan", "op": "in", "values": ["pro", "team"], "negate": False, "case_insensitive": True},
        {"attribute": "build", "op": "num_gte", "values": [1200, 1300.5], "negate": True, "case_insensitive": False},
    ]
    entry = AuditEntry.objects.get(action="flag_state.update")
    assert entry.reason == "beta for pro users"
    assert entry.actor_user == admin_user


def test_a_percentage_split_is_saved_as_weights(admin_client, layout, shop_production):
    state = FlagState.objects.get(flag=layout, environment=shop_production)
    data = targeting_post(state, serve_mode="split", percent_0="87.5", percent_1="12.5")
    assert admin_client.post(url(state), data).status_code == 302
    state.refresh_from_db()
    assert state.default_serve == {
        "split": [{"variant": "control", "weight": 87500}, {"variant": "compact", "weight": 12500}]
    }


def test_a_split_keeps_its_slice_order_when_saved_again(admin_client, layout, shop_production):
    state = FlagState.objects.get(flag=layout, environment=shop_production)
    split = {"split": [{"variant": "compact", "weight": 10000}, {"variant": "control", "weight": 90000}]}
    state = update_flag_state(state, SYSTEM, {"default_serve": split})
    html = admin_client.get(url(state)).content.decode()
    assert 'name="split_order" value="compact,control"' in html
    assert html.index('name="percent_1"') < html.index('name="percent_0"')  # shown in slice order


def test_a_wrong_regex_shows_the_error_and_saves_nothing(admin_client, checkout_in_production):
    data = targeting_post(
        checkout_in_production,
        **rule_fields(
            serve_variant="on",
            clause_0_attribute="email",
            clause_0_op="in",
            clause_0_values="a@x.io",
            clause_1_attribute="email",
            clause_1_op="regex",
            clause_1_values="^(admin",
        ),
    )
    response = admin_client.post(url(checkout_in_production), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing was saved" in html
    assert "<strong>Rule 1, clause 2, value 1:</strong> Invalid regular expression" in html
    assert 'class="fp-error-row"' in html  # marked on the clause row itself
    assert "^(admin</textarea>" in html  # what was typed is kept
    state = FlagState.objects.get(pk=checkout_in_production.pk)
    assert state.version == 1
    assert state.rules == []
    assert not AuditEntry.objects.filter(object_type="flagstate").exists()


def test_percentages_that_do_not_add_up_show_next_to_the_serve(admin_client, layout, shop_production):
    state = FlagState.objects.get(flag=layout, environment=shop_production)
    response = admin_client.post(url(state), targeting_post(state, serve_mode="split", percent_0="50", percent_1="40"))
    assert response.status_code == 200
    assert "Default serve:</strong> Weights must add up to 100%" in response.content.decode()
    state.refresh_from_db()
    assert state.version == 1


def test_a_stale_version_shows_the_conflict_and_saves_nothing(admin_client, checkout_in_production):
    stale = targeting_post(checkout_in_production, bucket_by="account_id")
    update_flag_state(checkout_in_production, SYSTEM, {"bucket_by": "org"})  # someone else, meanwhile
    response = admin_client.post(url(checkout_in_production), stale)
    assert response.status_code == 200
    assert "Someone else changed this targeting" in response.content.decode()
    state = FlagState.objects.get(pk=checkout_in_production.pk)
    assert (state.version, state.bucket_by) == (2, "org")
    assert AuditEntry.objects.filter(object_type="flagstate").count() == 1


def test_rules_are_deleted_and_reordered_with_the_formset(admin_client, checkout_in_production):
    rules = [
        {
            "id": name,
            "description": name,
            "serve": {"variant": "on"},
            "clauses": [{"attribute": "plan", "op": "equals", "values": [name]}],
        }
        for name in ("first", "second", "third")
    ]
    state = update_flag_state(checkout_in_production, SYSTEM, {"rules": rules})
    data = targeting_post(state, **{"rules-TOTAL_FORMS": "4", "rules-INITIAL_FORMS": "3"})
    for index, name in enumerate(("first", "second", "third")):
        data.update(
            rule_fields(
                index,
                id=name,
                description=name,
                serve_mode="variant",
                serve_variant="on",
                split_order="on,off",
                clause_0_attribute="plan",
                clause_0_op="equals",
                clause_0_values=name,
                ORDER=str(index + 1),
                clause_0_original=f'{{"op": "equals", "values": ["{name}"]}}',
            )
        )
    data.update(rule_fields(0, ORDER="4"))  # after "third" (3)
    data.update(rule_fields(1, DELETE="on"))
    data.update(rule_fields(3, serve_mode="variant", split_order="on,off"))
    assert admin_client.post(url(state), data).status_code == 302
    state.refresh_from_db()
    assert [rule["id"] for rule in state.rules] == ["third", "first"]
    assert state.version == 3


def test_unchanged_values_keep_their_json_types(admin_client, checkout_in_production):
    rule = {
        "id": "r1",
        "description": "",
        "serve": {"variant": "on"},
        "clauses": [{"attribute": "tier", "op": "in", "values": [3, True]}],
    }
    state = update_flag_state(checkout_in_production, SYSTEM, {"rules": [rule]})
    html = admin_client.get(url(state)).content.decode()
    assert "3\ntrue</textarea>" in html
    data = targeting_post(state, reason="only the reason", **{"rules-TOTAL_FORMS": "2", "rules-INITIAL_FORMS": "1"})
    data.update(
        rule_fields(
            0,
            id="r1",
            serve_mode="variant",
            serve_variant="on",
            split_order="on,off",
            ORDER="1",
            clause_0_attribute="tier",
            clause_0_op="in",
            clause_0_values="3\ntrue",
            clause_0_original='{"op": "in", "values": [3, true]}',
        )
    )
    data.update(rule_fields(1, serve_mode="variant", split_order="on,off"))
    assert admin_client.post(url(state), data).status_code == 302
    state.refresh_from_db()
    assert state.rules[0]["clauses"][0]["values"] == [3, True]
    assert state.version == 2  # nothing changed, nothing written


def test_in_segment_clauses_name_segments(admin_client, checkout_in_production):
    create_segment(checkout_in_production.flag.project, SYSTEM, key="beta-testers", included=["u1"])
    data = targeting_post(
        checkout_in_production,
        **rule_fields(serve_variant="on", clause_0_op="in_segment", clause_0_values="beta-testers"),
    )
    assert admin_client.post(url(checkout_in_production), data).status_code == 302
    state = FlagState.objects.get(pk=checkout_in_production.pk)
    assert state.rules[0]["clauses"][0] == {
        "attribute": "key",
        "op": "in_segment",
        "values": ["beta-testers"],
        "negate": False,
        "case_insensitive": False,
    }


def test_add_another_rule_and_more_clause_rows_make_room_without_saving(admin_client, checkout_in_production):
    data = targeting_post(
        checkout_in_production,
        _add_rule="Add another rule",
        **rule_fields(description="half-typed", serve_variant="on"),
    )
    html = admin_client.post(url(checkout_in_production), data).content.decode()
    assert 'name="rules-TOTAL_FORMS" value="2"' in html
    assert 'value="half-typed"' in html
    data = targeting_post(checkout_in_production, _add_clause_row="More clause rows")
    html = admin_client.post(url(checkout_in_production), data).content.decode()
    assert 'name="rules-0-clause_4_attribute"' in html
    assert FlagState.objects.get(pk=checkout_in_production.pk).version == 1
    assert not AuditEntry.objects.filter(object_type="flagstate").exists()


def test_every_problem_is_reported_at_once(admin_client, layout, shop_production):
    state = FlagState.objects.get(flag=layout, environment=shop_production)
    data = targeting_post(
        state,
        serve_mode="split",  # no percentages given
        **{"targets_0": "u1", "targets_1": "u1"},
        **rule_fields(
            serve_variant="",
            clause_0_attribute="email",
            clause_0_op="regex",
            clause_0_values="[a-",
            clause_1_op="num_lt",
            clause_1_values="ten",
        ),
    )
    html = admin_client.post(url(state), data).content.decode()
    for problem in [
        "<strong>Rule 1, clause 1, value 1:</strong> Invalid regular expression",
        "<strong>Rule 1, clause 2:</strong> Name the context attribute",
        "<strong>Rule 1, serve:</strong> Choose the variant to serve.",
        "<strong>Default serve:</strong> A split is a non-empty list of slices.",
        "<strong>Individual targets for &#x27;compact&#x27;:</strong> &#x27;u1&#x27; is already targeted",
    ]:
        assert problem in html
    assert FlagState.objects.get(pk=state.pk).version == 1


def test_a_percentage_that_is_not_a_number_is_reported_at_the_top(admin_client, layout, shop_production):
    state = FlagState.objects.get(flag=layout, environment=shop_production)
    data = targeting_post(state, serve_mode="split", percent_0="abc", percent_1="100")
    html = admin_client.post(url(state), data).content.decode()
    assert "<strong>control:</strong> Enter a number." in html
    assert FlagState.objects.get(pk=state.pk).version == 1

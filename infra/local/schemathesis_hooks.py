"""schemathesis hooks for infra/local/test.sh (loaded through SCHEMATHESIS_HOOKS).

A list's `cursor` is valid only as the API issued it (its position MACed and bound to the
list), which no schema can describe: a cursor schemathesis makes up is rightly a 400. So a
case that is meant to be valid goes without one; invalid cursors are still sent, and each must
be refused. (Issued cursors are tested by the system tests: api::lists_page_with_opaque_cursors_bound_to_the_tenant.)
"""
import schemathesis


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is not None and meta.generation.mode.is_positive and case.query and "cursor" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    return case

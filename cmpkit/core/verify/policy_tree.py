"""Certificate policy processing (RFC 5280 6.1, the policy tree): -policy, -explicit_policy, -inhibit_*."""
from __future__ import annotations

import logging
from typing import Optional

from .options import ANY_POLICY, VerifyOptions
from .reasons import Reason, _Fail

log = logging.getLogger("cmpkit.verify")


def check_policy(chain: list, opts: VerifyOptions) -> None:
    """check_policy(): the policy extensions' sanity, then the policy tree; -policy_print logs it."""
    path = list(reversed(chain[:-1]))  # without the trust anchor, top down
    for depth in range(len(chain) - 1):
        if chain[depth].invalid_policy:
            raise _Fail(Reason.INVALID_POLICY_EXTENSION, chain[depth], depth)
    o = opts
    user = set(o.policy) or {ANY_POLICY}
    ok, explicit, auth, users = _policy_tree(path, user, o.explicit_policy, o.inhibit_any,
                                             o.inhibit_map)
    if o.policy_print:
        log.info("Require explicit Policy: %s", "True" if explicit else "False")
        log.info("Authority Policies: %s", ", ".join(sorted(auth)) or "<empty>")
        log.info("User Policies: %s", ", ".join(sorted(users)) or "<empty>")
    if not ok:
        raise _Fail(Reason.NO_EXPLICIT_POLICY, chain[0], None)


class _Node:
    __slots__ = ("policy", "parent", "expected", "children")

    def __init__(self, policy: str, parent: "Optional[_Node]", expected: set):
        self.policy, self.parent, self.expected, self.children = policy, parent, set(expected), []
        if parent is not None:
            parent.children.append(self)


def _delete(levels: list, node: _Node) -> None:
    """Remove ``node`` and its descendants from the tree."""
    for child in list(node.children):
        _delete(levels, child)
    for lvl in levels:
        if node in lvl:
            lvl.remove(node)
            break
    if node.parent is not None:
        node.parent.children.remove(node)


def _prune(levels: list) -> None:
    """Delete childless nodes above the last level, repeatedly (RFC 5280 6.1.3 (d)(3))."""
    for depth in range(len(levels) - 2, -1, -1):
        for nd in [nd for nd in levels[depth] if not nd.children]:
            _delete(levels, nd)


def _policy_tree(path: list, user: set, initial_explicit: bool, initial_inhibit_any: bool,
                 initial_inhibit_map: bool):
    """RFC 5280 6.1 policy processing over ``path`` (certificates from the anchor's child to the
    leaf). Returns (ok, explicit_required, authority_policies, user_policies)."""
    n = len(path)
    if n == 0:
        return True, False, set(), set()
    explicit = 0 if initial_explicit else n + 1
    inhibit_any = 0 if initial_inhibit_any else n + 1
    mapping = 0 if initial_inhibit_map else n + 1
    root = _Node(ANY_POLICY, None, {ANY_POLICY})
    levels = [[root]]
    tree = True
    for i, c in enumerate(path, 1):
        if tree and c.policies is not None:
            prev, new = levels[-1], []
            for p in c.policies:
                if p == ANY_POLICY:
                    continue
                parents = [nd for nd in prev if p in nd.expected] or \
                    [nd for nd in prev if nd.policy == ANY_POLICY]
                new += [_Node(p, nd, {p}) for nd in parents]
            if ANY_POLICY in c.policies and (inhibit_any > 0 or (i < n and c.si)):
                for nd in prev:
                    have = {ch.policy for ch in nd.children}
                    new += [_Node(p, nd, {p}) for p in sorted(nd.expected) if p not in have]
            levels.append(new)
            _prune(levels)
            tree = bool(levels[0])
        else:
            tree = False
        if i != n:
            if tree and c.mappings:
                level = levels[i]
                mapped: dict = {}
                for idp, sdp in c.mappings:
                    mapped.setdefault(idp, set()).add(sdp)
                for idp, sdps in mapped.items():
                    if mapping > 0:
                        hits = [nd for nd in level if nd.policy == idp]
                        for nd in hits:
                            nd.expected = set(sdps)
                        if not hits:
                            anyn = next((nd for nd in level if nd.policy == ANY_POLICY), None)
                            if anyn is not None:
                                level.append(_Node(idp, anyn.parent, sdps))
                    else:
                        for nd in [nd for nd in level if nd.policy == idp]:
                            _delete(levels, nd)
                        _prune(levels)
                        tree = bool(levels[0])
                        if not tree:
                            break
            if not c.si:
                explicit = max(explicit - 1, 0)
                mapping = max(mapping - 1, 0)
                inhibit_any = max(inhibit_any - 1, 0)
            if c.require_explicit is not None and c.require_explicit < explicit:
                explicit = c.require_explicit
            if c.inhibit_mapping is not None and c.inhibit_mapping < mapping:
                mapping = c.inhibit_mapping
            if c.inhibit_any_skip is not None and c.inhibit_any_skip < inhibit_any:
                inhibit_any = c.inhibit_any_skip
    leaf = path[-1]
    if explicit > 0 and not leaf.si:
        explicit -= 1
    if leaf.require_explicit is not None and leaf.require_explicit < explicit:
        explicit = leaf.require_explicit
    authority = {nd.policy for nd in levels[-1]} if tree and len(levels) == n + 1 else set()
    if not tree or len(levels) != n + 1:
        users: set = set()
    elif ANY_POLICY in user:
        users = set(authority)
    else:
        node_set = [nd for lvl in levels[1:] for nd in lvl
                    if nd.parent is not None and nd.parent.policy == ANY_POLICY and nd.policy != ANY_POLICY]
        for nd in node_set:
            if nd.policy not in user:
                _delete(levels, nd)
        leaf_any = next((nd for nd in levels[n] if nd.policy == ANY_POLICY), None)
        if leaf_any is not None:
            present = {nd.policy for nd in node_set}
            for p in sorted(user - present):
                levels[n].append(_Node(p, leaf_any.parent, {p}))
            _delete(levels, leaf_any)
        _prune(levels)
        users = {nd.policy for nd in levels[n]} if levels[0] else set()
    required = explicit == 0
    return (not required or bool(users)), required, authority, users

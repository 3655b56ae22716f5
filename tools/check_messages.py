#!/usr/bin/env python3
#   Licensed under the Apache License, Version 2.0 (the "License"); you may
#   not use this file except in compliance with the License. You may obtain
#   a copy of the License at
#
#        http://www.apache.org/licenses/LICENSE-2.0
#
#   Unless required by applicable law or agreed to in writing, software
#   distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#   WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#   License for the specific language governing permissions and limitations
#   under the License.

"""Check that the troubleshooting page explains every message of the code.

Run by ``tox -e docs``. It reads the plugin's sources, collects the text of
every message a user can see (log warnings, infos and errors, command
errors, exception texts, the per-image warning and detail, the status
meanings) and fails, listing them, unless each literal part of each message
appears in ``doc/source/troubleshooting.rst``. A changed message then fails
the docs build until the page is updated: the page cannot drift silently.
"""

import ast
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = (
    'ims_osc_plugin/client.py',
    'ims_osc_plugin/v2/image.py',
)
PAGE = 'doc/source/troubleshooting.rst'

# Calls whose first argument is a message a user can see.
LOG_METHODS = {'warning', 'info', 'error', 'critical', 'exception'}
MESSAGE_CALLS = re.compile(r'(Error|Exception|NotFound|Found|Image)\Z')
# Programming errors of the Python API, never shown by the command.
NOT_USER_FACING = {'ValueError', 'TypeError'}
# Attributes and local names that hold a message being built.
MESSAGE_TARGETS = {'warning', 'detail', 'text'}
# Functions whose returned strings are messages.
MESSAGE_FUNCTIONS = {'_describe'}
# Dicts whose values are messages.
MESSAGE_DICTS = {'STATUS_MEANINGS'}

PLACEHOLDER = re.compile(r'%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdrif%]')


def _callee(node):
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ''


def _strings(node):
    """The string templates an expression builds, without its arguments."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _strings(node.left)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _strings(node.left) + _strings(node.right)
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    if isinstance(node, ast.JoinedStr):
        return ['%s'.join(v.value if isinstance(v, ast.Constant) else '%s'
                          for v in node.values)]
    if isinstance(node, ast.Tuple):
        return [s for e in node.elts for s in _strings(e)]
    return []


class _Collector(ast.NodeVisitor):
    def __init__(self):
        self.messages = []
        self._functions = []

    def visit_FunctionDef(self, node):
        self._functions.append(node.name)
        self.generic_visit(node)
        self._functions.pop()

    def visit_Call(self, node):
        name = _callee(node.func)
        if node.args and name not in NOT_USER_FACING and (
                name in LOG_METHODS or MESSAGE_CALLS.search(name) or
                (name == '__init__' and self._functions and
                 self._functions[-1] == '__init__')):
            self.messages += _strings(node.args[0])
        self.generic_visit(node)

    def _assign(self, targets, value):
        if any(_callee(t) in MESSAGE_TARGETS for t in targets):
            self.messages += _strings(value)
        if any(_callee(t) in MESSAGE_DICTS for t in targets) and isinstance(
                value, ast.Dict):
            for v in value.values:
                self.messages += _strings(v)

    def visit_Assign(self, node):
        self._assign(node.targets, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._assign([node.target], node.value)
        self.generic_visit(node)

    def visit_Return(self, node):
        if self._functions and self._functions[-1] in MESSAGE_FUNCTIONS:
            self.messages += _strings(node.value)
        self.generic_visit(node)


def messages(path):
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    collector = _Collector()
    collector.visit(tree)
    return collector.messages


def fragments(message):
    """The literal parts of a message template worth looking for."""
    for part in PLACEHOLDER.split(message):
        if part is None:
            continue
        part = ' '.join(part.split()).strip(' \'"')
        if len(re.sub(r'\W', '', part)) >= 3:
            yield part


def normalise(text):
    return ' '.join(text.replace('``', '').split())


def main():
    with open(os.path.join(TOP, PAGE), encoding='utf-8') as f:
        page = normalise(f.read())
    missing = []
    count = 0
    for source in SOURCES:
        for message in messages(os.path.join(TOP, source)):
            count += 1
            for part in fragments(message):
                if normalise(part) not in page:
                    missing.append((source, message, part))
    for source, message, part in missing:
        print('check_messages: %s: %r is not explained in %s (missing: %r)'
              % (source, message, PAGE, part), file=sys.stderr)
    if missing or not count:
        if not count:
            print('check_messages: found no messages in %s' % (SOURCES,),
                  file=sys.stderr)
        return 1
    print('check_messages: all %d messages are explained in %s'
          % (count, PAGE))
    return 0


if __name__ == '__main__':
    sys.exit(main())

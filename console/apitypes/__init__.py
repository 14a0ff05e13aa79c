"""The API's shapes as types: what ``@described`` handlers take and answer.

They describe; they never validate a request or build an answer, so each must match
what its handler really returns (the fuzz test checks every answer against them).
Objects allow keys beyond those listed: a client ignores what it does not know.
"""

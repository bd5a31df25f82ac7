"""The server's operations as data: the requests they take, the answers they give, the roles.

Shared by bartos (which serves them through every door) and barto-cli (which sends the same
requests and decodes the same answers), so the two cannot drift apart. Pure: msgspec Structs and
enums, no I/O.
"""

"""The clinic store: one PostgreSQL database for a practice with a box in every room (accounts,
patients, programmes, the access log and every box's finished sessions). A box alone needs none
of it. The daemon never touches it (it keeps no network): the console reads and writes the
clinic's accounts and patients there, with the box's own console.db as the copy it falls back on,
and the clinic link (`rugcoach clinic sync`, its own unit) uploads the box's finished sessions
and access log, heartbeats the box's state, and carries erasures out to the box.

    address.py   where the store is, the box's secret for it, and connecting (TLS by default)
    schema.py    the store's numbered migrations, and the roles `clinic init` / `add-box` make
    tables.py    the store's tables as the console's own classes speak to them (one connection)
    console.py   the console's data (coach.console.data's protocols) on the store, failing over
    sessions.py  a finished session as one record to upload, and records rebuilt from such
    link.py      the clinic link: erasures first, then sessions, the access log, the heartbeat
    join.py      a box that was used alone joins: its data uploaded once, clashes decided
"""

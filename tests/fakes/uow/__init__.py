"""FakeUnitOfWork: in-memory repositories for use-case tests (no database).

It models what the SQL behind SqlAlchemyUnitOfWork does, as far as the use
cases can tell; tests/integration/test_uow_contract.py runs one contract suite
against both, so the two cannot drift apart:

- Transactions at READ COMMITTED. A unit of work reads the committed rows with
  its own writes on top: another's commit shows at once, its uncommitted
  writes never. commit() applies the writes row by row and begins a new
  transaction (as the connection does); leaving `async with` discards them.
- Row locks. A write, get_for_update and a new unique key lock their row until
  the transaction ends; another transaction that needs the row waits for that
  (an await), and the claims pass over rows others hold (FOR UPDATE SKIP
  LOCKED). Waiting on a row that an open unit of work of the same task holds
  raises instead of hanging as it would on PostgreSQL.
- The database clock. now() is the FixedClock's time when the transaction
  began, as PostgreSQL's now() is; leases lapse, delays pass with the clock.
- Sequences. next_number() is never rolled back.
- Failed statements. After a unique key refuses a row (DuplicateQPayPayment,
  a used invoice number) the transaction is aborted: other statements raise,
  commit() rolls back and raises TransactionAborted.

Not modelled: foreign keys, check constraints and deadlock detection.
"""

from tests.fakes.uow.store import FakeStore
from tests.fakes.uow.unit_of_work import FakeUnitOfWork, invoice_status_counts

__all__ = ["FakeStore", "FakeUnitOfWork", "invoice_status_counts"]

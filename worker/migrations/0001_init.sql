-- The worker's schema: the engine's history, keyed by what the engine itself makes unique.
-- Money is BIGINT in USD units of 1/10000; prices are BIGINT in their asset's decimals; times are
-- BIGINT milliseconds (stream time). There are no foreign keys between these tables: entries of
-- different streams arrive in any order (at-least-once, claims, several workers), so a trade's
-- close may be written before its open or a ledger row before its user.

CREATE TABLE users (
    email           TEXT PRIMARY KEY,
    initial_deposit BIGINT NOT NULL,
    created_seq     BIGINT NOT NULL UNIQUE,
    created_ms      BIGINT NOT NULL
);

-- One row per orderId: the command side (from backend-to-engine) and the response side (from
-- engine_response) are upserted independently; either may arrive first.
CREATE TABLE orders (
    order_id       TEXT PRIMARY KEY,
    command        TEXT,
    email          TEXT,
    trade_data     JSONB,
    command_ts     BIGINT,
    command_entry  TEXT,
    status         TEXT,
    message        TEXT,
    result         JSONB,
    response_ts    BIGINT,
    response_seq   BIGINT UNIQUE,
    response_entry TEXT,
    -- From the command's arrival in Redis to the response's: both entry IDs come from the
    -- Redis server's clock. (response_ts is the engine's stream time, i.e. the command entry's
    -- millisecond, and command_ts the gateway's clock, so their difference would only measure
    -- the gateway-to-Redis hop.)
    latency_ms     BIGINT GENERATED ALWAYS AS (
        split_part(response_entry, '-', 1)::bigint - split_part(command_entry, '-', 1)::bigint
    ) STORED
);
CREATE INDEX orders_by_email ON orders (email, command_ts DESC, order_id DESC);

-- One row per tradeId, opened by TRADE_OPENED and closed by the closing event.
CREATE TABLE trades (
    trade_id        TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    asset           TEXT NOT NULL,
    direction       TEXT NOT NULL,
    margin          BIGINT NOT NULL,
    leverage        BIGINT NOT NULL,
    entry_price     BIGINT NOT NULL,
    opened_seq      BIGINT UNIQUE,
    opened_ms       BIGINT,
    open_order_id   TEXT,
    close_reason    TEXT CHECK (close_reason IN ('closed', 'stop_loss', 'take_profit', 'liquidated')),
    exit_price      BIGINT,
    close_price     BIGINT,
    pnl             BIGINT,
    margin_returned BIGINT,
    closed_seq      BIGINT UNIQUE,
    closed_ms       BIGINT,
    close_order_id  TEXT
);
CREATE INDEX trades_closed_by_email ON trades (email, closed_seq DESC)
    WHERE closed_seq IS NOT NULL;
CREATE INDEX trades_open_by_email ON trades (email, opened_seq DESC)
    WHERE closed_seq IS NULL;

-- Every change of a user's free balance: one row per engine event, keyed by the engine's seq.
CREATE TABLE ledger (
    seq            BIGINT PRIMARY KEY,
    email          TEXT NOT NULL,
    amount         BIGINT NOT NULL,
    balance_before BIGINT NOT NULL,
    balance_after  BIGINT NOT NULL,
    reason         TEXT NOT NULL,
    reference      TEXT NOT NULL,
    trade_id       TEXT,
    order_id       TEXT,
    ts             BIGINT NOT NULL,
    CHECK (balance_after = balance_before + amount)
);
CREATE INDEX ledger_by_email ON ledger (email, seq DESC);

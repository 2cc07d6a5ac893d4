-- The reference documentation's tables users, orders and trades, queryable as documented.
--
-- They are views, in a schema of their own (`reference`), over the worker's tables, which keep
-- their names and their exactly-once keys. The documentation writes identifiers unquoted, so
-- PostgreSQL folds them to lower case: the views' columns are the folded names (orderid,
-- latencyms, ...), and `SELECT orderId, status, latencyMs FROM orders` works once `reference`
-- comes first in the search_path (`SET search_path = reference, public`, or
-- `ALTER ROLE reporting SET search_path = reference, public`), or as `reference.orders`.
-- The worker pins its own connections to `public`, so such a default never redirects its writes.
--
-- Units are the documentation's: USD amounts BIGINT in 1/10000 (10000 = 1.00 USD), leverage in
-- tenths (10..1000), prices scaled by 10^decimals with their *Decimals column beside them.
-- The `id` columns are the engine's output seq of the entry that made the row (users: its
-- ACCOUNT_CREATED, orders: its first response, trades: its TRADE_OPENED): unique, in the
-- engine's order, and the same whatever order the worker received the entries in (a SERIAL
-- would number rows by arrival). They are NULL while that entry has not been written yet
-- (an order still PENDING); userId is NULL while the user's ACCOUNT_CREATED has not been.

-- What the worker's tables lacked: the asset's price decimals and the total return of a trade
-- (from its events), the amount and leverage of an order (from its command's tradeData, in
-- engine units, NULL when the command did not carry a valid one).
ALTER TABLE trades ADD COLUMN price_decimals INTEGER;
ALTER TABLE trades ADD COLUMN total_return BIGINT;
ALTER TABLE orders ADD COLUMN amount BIGINT;
ALTER TABLE orders ADD COLUMN leverage BIGINT;

CREATE SCHEMA reference;

-- An amount in human units from an answer's JSON (a number, or a decimal string) scaled to
-- `decimals`, exactly (numeric, never a float); NULL when absent, malformed, not a whole
-- number of units at `decimals`, or beyond BIGINT, so one odd answer never breaks a query.
CREATE FUNCTION reference.scaled(amount jsonb, decimals integer) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN s = trunc(s) AND abs(s) <= 9223372036854775807 THEN s::bigint END
    FROM (
        SELECT CASE
            WHEN decimals IS NULL OR decimals NOT BETWEEN 0 AND 18 THEN NULL
            WHEN jsonb_typeof(amount) = 'number'
                THEN (amount #>> '{}')::numeric * power(10::numeric, decimals)
            WHEN jsonb_typeof(amount) = 'string'
                 AND (amount #>> '{}') ~ '^-?[0-9]{1,20}(\.[0-9]{1,20})?$'
                THEN (amount #>> '{}')::numeric * power(10::numeric, decimals)
        END AS s
    ) AS x
$$;

CREATE VIEW reference.users AS
SELECT u.created_seq AS id, u.email
FROM public.users AS u;

CREATE VIEW reference.orders AS
SELECT
    o.response_seq AS id,
    o.order_id AS orderid,
    u.created_seq AS userid,
    o.email,
    o.command,
    coalesce(o.trade_data ->> 'asset', o.result ->> 'asset') AS asset,
    coalesce(
        o.result ->> 'direction',
        upper(coalesce(o.trade_data ->> 'direction', o.trade_data ->> 'type'))
    ) AS direction,
    o.amount,
    -- what the order asked for; the engine's default when a CREATE_TRADE left it out
    coalesce(
        o.leverage,
        CASE WHEN o.command = 'CREATE_TRADE' THEN reference.scaled(o.result -> 'leverageTenths', 0) END
    ) AS leverage,
    coalesce(o.result ->> 'tradeId', o.trade_data ->> 'tradeId') AS tradeid,
    CASE
        WHEN o.response_seq IS NULL THEN 'PENDING'
        WHEN o.status = 'success' THEN 'SUCCESS'
        ELSE 'ERROR'
    END AS status,
    o.latency_ms AS latencyms
FROM public.orders AS o
LEFT JOIN public.users AS u ON u.email = o.email;

-- The stop-loss, take-profit and liquidation levels are not on the events: they come from the
-- answer to the CREATE_TRADE that opened the trade (its orderId is the tradeId), in human units.
CREATE VIEW reference.trades AS
SELECT
    t.opened_seq AS id,
    t.trade_id AS tradeid,
    u.created_seq AS userid,
    t.email,
    t.asset,
    t.direction,
    t.margin,
    t.leverage,
    t.entry_price AS entryprice,
    t.price_decimals AS entrypricedecimals,
    lv.liquidation AS liquidationprice,
    CASE WHEN lv.liquidation IS NOT NULL THEN t.price_decimals END AS liquidationpricedecimals,
    lv.stop_loss AS stoplossprice,
    lv.take_profit AS takeprofitprice,
    CASE WHEN coalesce(lv.stop_loss, lv.take_profit) IS NOT NULL THEN t.price_decimals END
        AS triggerdecimals,
    t.exit_price AS exitprice,
    CASE WHEN t.exit_price IS NOT NULL THEN t.price_decimals END AS exitpricedecimals,
    t.pnl,
    CASE t.close_reason
        WHEN 'closed' THEN 'CLOSED'
        WHEN 'stop_loss' THEN 'STOP_LOSS'
        WHEN 'take_profit' THEN 'TAKE_PROFIT'
        WHEN 'liquidated' THEN 'LIQUIDATED'
        ELSE 'OPEN'
    END AS status,
    TIMESTAMP 'epoch' + t.opened_ms * INTERVAL '1 millisecond' AS createdat,
    TIMESTAMP 'epoch' + coalesce(t.closed_ms, t.opened_ms) * INTERVAL '1 millisecond'
        AS updatedat
FROM public.trades AS t
LEFT JOIN public.users AS u ON u.email = t.email
LEFT JOIN public.orders AS o ON o.order_id = coalesce(t.open_order_id, t.trade_id)
CROSS JOIN LATERAL (
    SELECT
        reference.scaled(o.result -> 'liquidationPrice', t.price_decimals) AS liquidation,
        reference.scaled(o.result -> 'stopLossPrice', t.price_decimals) AS stop_loss,
        reference.scaled(o.result -> 'takeProfitPrice', t.price_decimals) AS take_profit
) AS lv;

COMMENT ON SCHEMA reference IS
    'The reference documentation''s tables users, orders, trades: views over the worker''s tables';
COMMENT ON VIEW reference.orders IS
    'latencyms: the response entry''s millisecond minus the command entry''s (Redis server clock)';
COMMENT ON VIEW reference.trades IS
    'createdat/updatedat: UTC, from the engine''s stream time of the opening/closing event';

-- Pending orders and position management (issue 17): the lifecycle of LIMIT/STOP orders on
-- their orders row, amended exits on the trade, trailing stops as a close reason, and partial
-- closes as trades rows of their own. Keys still come from the streams (the engine's seq, the
-- order's ID), so a redelivered or reordered event leaves the same rows.

-- The pending order's state from its ORDER_* events (the orders row of the CREATE_ORDER whose
-- orderId is the order's ID): the event of the highest seq wins, so PENDING never overwrites
-- FILLED, whatever order the events arrive in. fill_price is the entry price of ORDER_FILLED.
ALTER TABLE orders ADD COLUMN order_status TEXT CHECK (
    order_status IN ('PENDING', 'FILLED', 'CANCELLED', 'EXPIRED', 'REJECTED')
);
ALTER TABLE orders ADD COLUMN order_status_seq BIGINT UNIQUE;
ALTER TABLE orders ADD COLUMN order_status_ms BIGINT;
ALTER TABLE orders ADD COLUMN order_status_reason TEXT;
ALTER TABLE orders ADD COLUMN fill_price BIGINT;

-- A trailing stop is a close reason of its own.
ALTER TABLE trades DROP CONSTRAINT trades_close_reason_check;
ALTER TABLE trades ADD CONSTRAINT trades_close_reason_check CHECK (
    close_reason IN ('closed', 'stop_loss', 'take_profit', 'liquidated', 'force_closed',
                     'trailing_stop')
);

-- A partial close is a closed trades row of its own: trade_id '<tradeId>#<seq>' (the engine's
-- seq of its TRADE_CLOSED; '#' is outside the gateway's orderId alphabet, so it never collides
-- with a trade), parent_trade_id the trade it is part of, margin the part closed. On the
-- trade's own row closed_margin is the margin its final close closed (margin stays what was
-- opened). remaining_margin: what a partial close left open.
ALTER TABLE trades ADD COLUMN parent_trade_id TEXT;
ALTER TABLE trades ADD COLUMN closed_margin BIGINT;
ALTER TABLE trades ADD COLUMN remaining_margin BIGINT;
CREATE INDEX trades_by_parent ON trades (parent_trade_id) WHERE parent_trade_id IS NOT NULL;

-- The exits after the latest TRADE_MODIFIED (exits_seq its seq; NULL: never amended, the
-- opening answer's levels hold). NULL levels after an amend: that exit was removed.
ALTER TABLE trades ADD COLUMN stop_loss_price BIGINT;
ALTER TABLE trades ADD COLUMN take_profit_price BIGINT;
ALTER TABLE trades ADD COLUMN trailing_distance BIGINT;
ALTER TABLE trades ADD COLUMN exits_seq BIGINT;

-- The reference statuses know no trailing stop: it is a stop-loss that moved (STOP_LOSS). A
-- partial close is CLOSED. Amended exits replace the opening answer's.
CREATE OR REPLACE VIEW reference.trades AS
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
        WHEN 'force_closed' THEN 'CLOSED'
        WHEN 'stop_loss' THEN 'STOP_LOSS'
        WHEN 'trailing_stop' THEN 'STOP_LOSS'
        WHEN 'take_profit' THEN 'TAKE_PROFIT'
        WHEN 'liquidated' THEN 'LIQUIDATED'
        ELSE 'OPEN'
    END AS status,
    TIMESTAMP 'epoch' + t.opened_ms * INTERVAL '1 millisecond' AS createdat,
    TIMESTAMP 'epoch' + coalesce(t.closed_ms, t.opened_ms) * INTERVAL '1 millisecond'
        AS updatedat,
    t.parent_trade_id AS parenttradeid,
    t.trailing_distance AS trailingdistance
FROM public.trades AS t
LEFT JOIN public.users AS u ON u.email = t.email
LEFT JOIN public.orders AS o
    ON o.order_id = coalesce(t.open_order_id, t.parent_trade_id, t.trade_id)
CROSS JOIN LATERAL (
    SELECT
        reference.scaled(o.result -> 'liquidationPrice', t.price_decimals) AS liquidation,
        CASE WHEN t.exits_seq IS NOT NULL THEN t.stop_loss_price
             ELSE reference.scaled(o.result -> 'stopLossPrice', t.price_decimals) END
            AS stop_loss,
        CASE WHEN t.exits_seq IS NOT NULL THEN t.take_profit_price
             ELSE reference.scaled(o.result -> 'takeProfitPrice', t.price_decimals) END
            AS take_profit
) AS lv;

-- The documented orders keep their columns; orderstatus (additive) is a pending order's state.
CREATE OR REPLACE VIEW reference.orders AS
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
    o.latency_ms AS latencyms,
    o.order_status AS orderstatus
FROM public.orders AS o
LEFT JOIN public.users AS u ON u.email = o.email;

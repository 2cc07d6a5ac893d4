-- Operator controls (issue 18): an append-only audit log of every operator command and its
-- result, forced closes as a close reason of their own, and the operator's reason on ledger rows.

-- The operator's reason beside the ledger row it explains (BALANCE_ADJUSTED, TRADE_FORCE_CLOSED).
ALTER TABLE ledger ADD COLUMN note TEXT;

ALTER TABLE trades DROP CONSTRAINT trades_close_reason_check;
ALTER TABLE trades ADD CONSTRAINT trades_close_reason_check CHECK (
    close_reason IN ('closed', 'stop_loss', 'take_profit', 'liquidated', 'force_closed')
);

-- One row per operator command (who, what, its parameters, its result, the command's stream
-- entry ID and time) and per change the engine made on its own (a market halted by the price
-- band: actor 'engine'). Rows are only ever added: the trigger below refuses UPDATE, DELETE and
-- TRUNCATE. Keys come from the streams, so a redelivered entry adds nothing.
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    entry_id    TEXT NOT NULL UNIQUE,
    order_id    TEXT UNIQUE,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    parameters  JSONB NOT NULL,
    status      TEXT,
    message     TEXT,
    result      JSONB,
    ts_ms       BIGINT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- An operator command is audited once both halves of its orders row are in (the command from
-- backend-to-engine and the engine's answer arrive in either order), with the answer the row
-- keeps: refusals too (a non-admin's attempt, a debit past the balance).
CREATE FUNCTION audit_operator_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.command IN ('SET_MARKET_STATE', 'SET_LIMITS', 'ADJUST_BALANCE', 'FORCE_CLOSE',
                       'GET_REPORT')
       AND NEW.command_entry IS NOT NULL AND NEW.status IS NOT NULL THEN
        INSERT INTO audit_log (entry_id, order_id, actor, action, parameters, status, message,
                               result, ts_ms)
        VALUES (NEW.command_entry, NEW.order_id, NEW.email, NEW.command,
                coalesce(NEW.trade_data, '{}'::jsonb), NEW.status, NEW.message, NEW.result,
                NEW.command_ts)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION audit_operator_order();

-- A forced close is CLOSED in the reference protocol's statuses.
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

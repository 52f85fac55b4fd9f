//! Team mode's connection: one async tokio-postgres client per run, with the announcements
//! (`LISTEN/NOTIFY`) it hears passed on over a channel, the tick statement prepared once, and
//! a probe that tells a database waiting on a lock (a cancel request is answered) from one
//! that is gone (it is not).

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{anyhow, Result};
use tokio::sync::mpsc;

use super::conn::Target;
use super::team::{Seen, RECONNECT_FOR};
use super::tick;

/// How long one statement may go unanswered before the database is probed (a cancel request
/// answered means it is alive and waiting on a lock; none means it is gone).
const STATEMENT_WAIT: Duration = Duration::from_secs(6);

/// One async connection: the client, the announcements it hears, and how to cancel a
/// statement (the probe that tells a locked database from a gone one).
pub struct Link {
    pub client: tokio_postgres::Client,
    /// The tick statement, prepared once per connection (one round trip per tick, not two).
    tick: tokio_postgres::Statement,
    pub notes: mpsc::UnboundedReceiver<String>,
    cancel: tokio_postgres::CancelToken,
    target: Target,
}

impl Link {
    pub async fn connect(target: &Target, seen: &Seen) -> Result<Link> {
        let cfg = target.tokio_config()?;
        let (tx, notes) = mpsc::unbounded_channel();
        let connecting = async {
            match target.ssl {
                super::conn::SslMode::Disable => {
                    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
                    tokio::spawn(drive(conn, tx));
                    Ok::<_, anyhow::Error>(client)
                }
                mode => {
                    let tls = super::tls::connector(mode, target.root_cert.as_deref())?;
                    let (client, conn) = cfg.connect(tls).await?;
                    tokio::spawn(drive(conn, tx));
                    Ok(client)
                }
            }
        };
        let client = tokio::time::timeout(RECONNECT_FOR, connecting)
            .await
            .map_err(|_| {
                anyhow!(
                    "cannot reach the state database {}: no answer",
                    target.label
                )
            })?
            .map_err(|e| anyhow!("cannot reach the state database {}: {e:#}", target.label))?;
        // Both in one round trip: tokio-postgres pipelines requests made together.
        let listen = format!("LISTEN {}", tick::CHANNEL);
        let (_, tick) = tokio::try_join!(client.batch_execute(&listen), client.prepare(tick::SQL))?;
        seen.round_trips.fetch_add(1, Ordering::Relaxed);
        Ok(Link {
            tick,
            cancel: client.cancel_token(),
            client,
            notes,
            target: target.clone(),
        })
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Runs the statement; one that waits long is probed with a cancel request: answered, the
    /// database is alive (a lock held by maintenance) and the statement is sent again;
    /// unanswered, the database is gone.
    pub async fn tick(
        &self,
        args: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        seen: &Seen,
    ) -> Result<tokio_postgres::Row> {
        loop {
            seen.round_trips.fetch_add(1, Ordering::Relaxed);
            let fut = self.client.query_one(&self.tick, args);
            tokio::pin!(fut);
            match tokio::time::timeout(STATEMENT_WAIT, &mut fut).await {
                Ok(Ok(row)) => return Ok(row),
                Ok(Err(e)) => {
                    return Err(anyhow!(
                        "state database {}: {}",
                        self.target.label,
                        super::conn::chain(&e)
                    ))
                }
                Err(_) => {}
            }
            if !self.probe().await {
                return Err(anyhow!(
                    "the state database {} did not answer within {} s",
                    self.target.label,
                    STATEMENT_WAIT.as_secs()
                ));
            }
            tracing::warn!("team mode: the state database is busy (a lock?): waiting");
            // The cancelled statement ends with an error and is sent again, unless it ended
            // well just before the cancel arrived.
            if let Ok(Ok(row)) = tokio::time::timeout(STATEMENT_WAIT, fut).await {
                return Ok(row);
            }
        }
    }

    /// Whether the server takes a cancel request (it is up and only waiting).
    async fn probe(&self) -> bool {
        let cancel = async {
            match self.target.ssl {
                super::conn::SslMode::Disable => self
                    .cancel
                    .cancel_query(tokio_postgres::NoTls)
                    .await
                    .is_ok(),
                mode => match super::tls::connector(mode, self.target.root_cert.as_deref()) {
                    Ok(tls) => self.cancel.cancel_query(tls).await.is_ok(),
                    Err(_) => false,
                },
            }
        };
        tokio::time::timeout(Duration::from_secs(2), cancel)
            .await
            .unwrap_or(false)
    }
}

/// Drives a connection, passing announcements on; ends when the connection does.
async fn drive<S, T>(mut conn: tokio_postgres::Connection<S, T>, tx: mpsc::UnboundedSender<String>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
    while let Some(m) = futures::StreamExt::next(&mut messages).await {
        match m {
            Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                let _ = tx.send(n.payload().to_string());
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!("team mode: connection: {e}");
                break;
            }
        }
    }
}

"""Wires the dispatcher: its stores, built once and handed to each part that needs
them; the faust app; the pollers (schedules, held commands, pacing); health."""

from __future__ import annotations

from services.dispatcher.admission import Admission
from services.dispatcher.emission import BatchEmitter
from services.dispatcher.expansion import Expander, ExpansionConfig
from services.dispatcher.faust_app import create_faust_app
from services.dispatcher.pacing import ExpansionPacer
from services.dispatcher.polling import Pollers
from services.dispatcher.positions import AudiencePositions
from services.dispatcher.releases import HoldReleaser
from services.dispatcher.republish import StepProducer
from services.dispatcher.schedules import ScheduleStarter
from services.dispatcher.settings import DispatcherSettings
from services.dispatcher.ticks import TickSender
from shared.clock import make_clock
from shared.redis import Keys
from shared.runtime import Service
from shared.store.campaigns import CampaignStore
from shared.store.expansion import ExpansionStore
from shared.store.holding import HoldingStore
from shared.store.progress import ProgressStore
from shared.store.recipients import RecipientStore
from shared.store.suppressions import SuppressionCache, SuppressionStore
from shared.store.tiers import TierStore
from shared.topics import Topics


class DispatcherService(Service):
    name = "dispatcher"
    uses_database = True

    def __init__(self, settings: DispatcherSettings) -> None:
        super().__init__(settings)
        keys = Keys(settings.redis_key_prefix)
        redis, producer = self.connections.redis, self.connections.producer
        topics = Topics.from_settings(settings)
        # Opened with the service's connections, after this is built.
        campaigns = CampaignStore(lambda: self.connections.database, redis, keys)
        recipients = RecipientStore(lambda: self.connections.database)
        progress = ProgressStore(redis, keys)
        expansions = ExpansionStore(redis, keys)
        holding = HoldingStore(redis, keys)
        positions = AudiencePositions(redis, keys)
        ticks = TickSender(producer, expansions, topics)
        # One clock for admission and releases: an adjustable one reads its offset once.
        clock = make_clock(settings.clock_adjustable, redis, keys)
        admission = Admission(
            SuppressionStore(
                lambda: self.connections.database,
                SuppressionCache(redis, keys, settings.twilio_credentials[0]),
                settings.twilio_credentials[0],
            ),
            TierStore(redis, keys),
            settings.sender_directory,
            clock,
        )
        # What the dispatcher's steps emit and decide goes to Kafka through one writer.
        out = StepProducer(producer, topics, settings.commands_per_record)
        emitter = BatchEmitter(
            out=out,
            campaigns=campaigns,
            recipients=recipients,
            holding=holding,
            positions=positions,
            admission=admission,
            senders=settings.sender_directory,
            default_from_number=settings.twilio_whatsapp_number,
            batch_size=settings.batch_size,
        )
        # One expander for both agents: it caches the campaigns being expanded.
        expander = Expander(
            ExpansionConfig(
                batch_size=settings.batch_size,
                max_concurrent_batches=settings.max_concurrent_batches,
            ),
            campaigns=campaigns,
            recipients=recipients,
            progress=progress,
            expansions=expansions,
            holding=holding,
            positions=positions,
            ticks=ticks,
            emitter=emitter,
        )
        self.faust_app = create_faust_app(
            settings, topics=topics, expander=expander, campaigns=campaigns, producer=producer
        )
        self.pollers = Pollers(
            schedules=ScheduleStarter(
                producer=producer,
                topics=topics,
                campaigns=campaigns,
                recipients=recipients,
                poll_interval_s=settings.schedule_poll_interval_s,
            ),
            held=HoldReleaser(
                out=out,
                campaigns=campaigns,
                holding=holding,
                admission=admission,
                clock=clock,
                poll_interval_s=settings.schedule_poll_interval_s,
            ),
            pacer=ExpansionPacer(
                campaigns,
                progress,
                expansions,
                ticks,
                holding,
                max_concurrent_batches=settings.max_concurrent_batches,
                poll_interval_s=settings.expansion_poll_interval_s,
            ),
        )

    async def start_work(self) -> None:
        await self.faust_app.start()
        self.pollers.start()

    async def stop_work(self) -> None:
        await self.pollers.stop()
        await self.faust_app.stop()

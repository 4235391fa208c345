"""The open word classes of the demo grammar: nouns by class, adjectives, and verbs.

Noun classes: H persons, A animals, T things, F food, P places. An adjective lists the classes it may
modify and a transitive verb the classes of its object, so sentences stay sensible ("the cat eats a
pear", never "the pear eats a cat"). The order of every table is part of the corpus: the generator
draws from them by index, so reordering them changes every sentence.
"""

from __future__ import annotations

from functools import cache

from nmt_cli.data.demo.words import Adj, Noun, adjective_table, noun_table, verb_table

PERSONS = noun_table(
    "H",
    """
man/men hombre m
woman/women mujer f
boy niño m
girl niña f
doctor médico m
nurse enfermera f
friend amigo m
neighbor vecino m
king rey m
queen reina f
farmer granjero m
baker panadero m
actress actriz f
brother hermano m
sister hermana f
mother madre f
father padre m
uncle tío m
aunt tía f
grandmother abuela f
soldier soldado m
waiter camarero m
lawyer abogado m
student estudiante m
teacher profesor m
""",
)
ANIMALS = noun_table(
    "A",
    """
cat gato m
dog perro m
bird pájaro m
horse caballo m
cow vaca f
mouse/mice ratón/ratones m
rabbit conejo m
duck pato m
pig cerdo m
goat cabra f
hen gallina f
frog rana f
monkey mono m
lion león/leones m
bear oso m
wolf/wolves lobo m
fox zorro m
snake serpiente f
spider araña f
turtle tortuga f
""",
)
THINGS = noun_table(
    "T",
    """
book libro m
table mesa f
chair silla f
car coche m
door puerta f
window ventana f
box caja f
key llave f
letter carta f
pen bolígrafo m
bag bolsa f
ball pelota f
hat sombrero m
shoe zapato m
shirt camisa f
dress vestido m
bottle botella f
cup taza f
glass vaso m
plate plato m
knife/knives cuchillo m
spoon cuchara f
lamp lámpara f
clock reloj m
phone teléfono m
computer ordenador m
camera cámara f
bicycle bicicleta f
boat barco m
newspaper periódico m
map mapa m
toy juguete m
guitar guitarra f
blanket manta f
coat abrigo m
ring anillo m
flower flor f
tree árbol m
""",
)
FOODS = noun_table(
    "F",
    """
apple manzana f
banana plátano m
cake pastel m
cookie galleta f
sandwich bocadillo m
egg huevo m
tomato tomate m
potato patata f
carrot zanahoria f
pear pera f
lemon limón/limones m
pizza pizza f
strawberry fresa f
cherry cereza f
onion cebolla f
soup sopa f
""",
)
PLACES = noun_table(
    "P",
    """
house casa f
park parque m
garden jardín/jardines m
kitchen cocina f
school escuela f
city ciudad f
street calle f
forest bosque m
river río m
beach playa f
market mercado m
station estación/estaciones f
church iglesia f
hospital hospital m
library biblioteca f
office oficina f
village pueblo m
mountain montaña f
lake lago m
farm granja f
bridge puente m
room habitación/habitaciones f
restaurant restaurante m
hotel hotel m
museum museo m
shop tienda f
island isla f
castle castillo m
""",
)
NOUNS = PERSONS + ANIMALS + THINGS + FOODS + PLACES

# English, Spanish (masc sg; "sg/pl" = same form for both genders), noun classes (* = all), copula s/e.
ADJECTIVES = adjective_table(
    """
red rojo * s
blue azul * s
green verde * s
yellow amarillo * s
white blanco * s
black negro * s
brown marrón/marrones * s
grey gris * s
pink rosa/rosas * s
purple morado * s
big grande * s
small pequeño * s
old viejo * s
new nuevo HTP s
beautiful bonito * s
ugly feo * s
expensive caro TFP s
cheap barato TFP s
heavy pesado TA s
strange extraño * s
famous famoso HAP s
tall alto HAT s
young joven/jóvenes HA s
strong fuerte HA s
fast rápido HAT s
slow lento HAT s
quiet tranquilo HAP s
good bueno * s
bad malo * s
intelligent inteligente HA s
funny gracioso HA s
fresh fresco F s
sweet dulce F s
delicious delicioso F s
clean limpio HATP e
dirty sucio HATP e
happy contento HA e
sad triste HA e
tired cansado HA e
angry enfadado HA e
sick enfermo HA e
busy ocupado H e
broken roto T e
full lleno TP e
empty vacío TP e
hot caliente F e
cold frío TFP e
""",
)

# English | Spanish infinitive | 1sg 2sg 3sg 1pl 3pl (empty: regular) | object classes (empty: intransitive)
TRANSITIVE = verb_table(
    """
see | ver | veo ves ve vemos ven | HATFP
eat | comer | | F
buy | comprar | | TF
sell | vender | | TF
open | abrir | | T
close | cerrar | cierro cierras cierra cerramos cierran | T
paint | pintar | | TP
clean | limpiar | | TP
wash | lavar | | TFA
cook | cocinar | | F
carry | llevar | | TFA
need | necesitar | | TF
use | usar | | T
find | encontrar | encuentro encuentras encuentra encontramos encuentran | HATF
visit | visitar | | HP
love | amar | | HA
help | ayudar | | HA
call | llamar | | HA
draw | dibujar | | HATP
break | romper | | T
fix | arreglar | | T
prepare | preparar | | F
hide | esconder | | TF
bring | traer | traigo traes trae traemos traen | TF
catch | atrapar | | A
push | empujar | | T
forget | olvidar | | T
remember | recordar | recuerdo recuerdas recuerda recordamos recuerdan | HATP
prefer | preferir | prefiero prefieres prefiere preferimos prefieren | TFP
hug | abrazar | | HA
follow | seguir | sigo sigues sigue seguimos siguen | HA
look for | buscar | | HATF
look at | mirar | | HATP
wait for | esperar | | H
listen to | escuchar | | HA
take care of | cuidar | | HAP
pick up | recoger | recojo recoges recoge recogemos recogen | TF
turn off | apagar | | T
throw away | tirar | | TF
""",
)
INTRANSITIVE = verb_table(
    """
sleep | dormir | duermo duermes duerme dormimos duermen |
run | correr | |
walk | caminar | |
swim | nadar | |
dance | bailar | |
sing | cantar | |
work | trabajar | |
play | jugar | juego juegas juega jugamos juegan |
cry | llorar | |
travel | viajar | |
rest | descansar | |
study | estudiar | |
arrive | llegar | |
live | vivir | |
jump | saltar | |
shout | gritar | |
talk | hablar | |
return | volver | vuelvo vuelves vuelve volvemos vuelven |
win | ganar | |
lose | perder | pierdo pierdes pierde perdemos pierden |
""",
)
SAY = verb_table(
    """
say | decir | digo dices dice decimos dicen |
think | pensar | pienso piensas piensa pensamos piensan |
know | saber | sé sabes sabe sabemos saben |
believe | creer | |
""",
)
VERBS = TRANSITIVE + INTRANSITIVE


@cache
def nouns_of(classes: str) -> tuple[Noun, ...]:
    """The nouns of these classes, in table order."""
    return tuple(n for n in NOUNS if n.cls in classes)


@cache
def adjs_of(cls: str) -> tuple[Adj, ...]:
    """The adjectives that may modify a noun of class ``cls``, in table order."""
    return tuple(a for a in ADJECTIVES if cls in a.classes)
